//! MeterValues and the sampled-value model shared with TransactionEvent.

use serde::{Deserialize, Serialize};

use super::common::CustomData;
use crate::common::DateTime;

ocpp_enum! {
    /// Why a value was sampled (`ReadingContextEnumType`; schema default `Sample.Periodic`).
    pub enum ReadingContextEnumType {
        /// Value taken at start of an interruption.
        InterruptionBegin = "Interruption.Begin",
        /// Value taken when resuming after an interruption.
        InterruptionEnd = "Interruption.End",
        /// Value for any other situation.
        Other = "Other",
        /// Value for a clock-aligned interval.
        SampleClock = "Sample.Clock",
        /// Value taken periodically during a transaction.
        SamplePeriodic = "Sample.Periodic",
        /// Value taken at the start of a transaction.
        TransactionBegin = "Transaction.Begin",
        /// Value taken at the end of a transaction.
        TransactionEnd = "Transaction.End",
        /// Value taken in response to a TriggerMessage.
        Trigger = "Trigger",
    }
}

ocpp_enum! {
    /// What a sampled value measures (`MeasurandEnumType`; default `Energy.Active.Import.Register`).
    pub enum MeasurandEnumType {
        /// Instantaneous current flow from the EV (A).
        CurrentExport = "Current.Export",
        /// Instantaneous current flow to the EV (A).
        CurrentImport = "Current.Import",
        /// Maximum current offered to the EV (A).
        CurrentOffered = "Current.Offered",
        /// Energy exported by the EV, register value.
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        /// Energy imported by the EV, register value.
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        /// Reactive energy exported, register value.
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        /// Reactive energy imported, register value.
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        /// Energy exported during the last interval.
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        /// Energy imported during the last interval.
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        /// Net active energy (import minus export).
        EnergyActiveNet = "Energy.Active.Net",
        /// Reactive energy exported during the last interval.
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        /// Reactive energy imported during the last interval.
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        /// Net reactive energy.
        EnergyReactiveNet = "Energy.Reactive.Net",
        /// Net apparent energy.
        EnergyApparentNet = "Energy.Apparent.Net",
        /// Apparent energy imported.
        EnergyApparentImport = "Energy.Apparent.Import",
        /// Apparent energy exported.
        EnergyApparentExport = "Energy.Apparent.Export",
        /// Instantaneous power-line frequency.
        Frequency = "Frequency",
        /// Instantaneous active power exported by the EV.
        PowerActiveExport = "Power.Active.Export",
        /// Instantaneous active power imported by the EV.
        PowerActiveImport = "Power.Active.Import",
        /// Instantaneous power factor.
        PowerFactor = "Power.Factor",
        /// Maximum power offered to the EV.
        PowerOffered = "Power.Offered",
        /// Instantaneous reactive power exported.
        PowerReactiveExport = "Power.Reactive.Export",
        /// Instantaneous reactive power imported.
        PowerReactiveImport = "Power.Reactive.Import",
        /// State of charge of the EV battery (Percent).
        SoC = "SoC",
        /// Instantaneous AC RMS supply voltage.
        Voltage = "Voltage",
    }
}

ocpp_enum! {
    /// Electrical phase a value refers to (`PhaseEnumType`).
    pub enum PhaseEnumType {
        /// Measured on L1.
        L1 = "L1",
        /// Measured on L2.
        L2 = "L2",
        /// Measured on L3.
        L3 = "L3",
        /// Measured on Neutral.
        N = "N",
        /// Measured between L1 and N.
        L1N = "L1-N",
        /// Measured between L2 and N.
        L2N = "L2-N",
        /// Measured between L3 and N.
        L3N = "L3-N",
        /// Measured between L1 and L2.
        L1L2 = "L1-L2",
        /// Measured between L2 and L3.
        L2L3 = "L2-L3",
        /// Measured between L3 and L1.
        L3L1 = "L3-L1",
    }
}

ocpp_enum! {
    /// Where a value was measured (`LocationEnumType`; default `Outlet`).
    pub enum LocationEnumType {
        /// Measurement inside the station body.
        Body = "Body",
        /// Measurement inside the cable.
        Cable = "Cable",
        /// Measurement taken by the EV.
        Ev = "EV",
        /// Measurement at the grid inlet.
        Inlet = "Inlet",
        /// Measurement at a connector (outlet).
        Outlet = "Outlet",
    }
}

/// Unit and power-of-ten multiplier of a value (`UnitOfMeasureType`; defaults `Wh`, 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnitOfMeasureType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Unit name (free text, max 20 chars; the spec lists e.g. `Wh`, `kW`, `Celsius`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Power of ten the value is multiplied by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<i32>,
}

/// Signed meter data for a value (`SignedMeterValueType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedMeterValueType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// Base64-encoded signed data (max 2500 chars).
    pub signed_meter_data: String,
    /// Signing method (max 50 chars).
    pub signing_method: String,
    /// Encoding method of the data (max 50 chars).
    pub encoding_method: String,
    /// Base64-encoded public key (max 2500 chars).
    pub public_key: String,
}

/// One measured value with its metadata (`SampledValueType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValueType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// The measured value (a JSON number in 2.0.1).
    pub value: f64,
    /// Why the value was sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ReadingContextEnumType>,
    /// What was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurand: Option<MeasurandEnumType>,
    /// Phase the value applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseEnumType>,
    /// Where the value was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationEnumType>,
    /// Signed meter data for this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_meter_value: Option<SignedMeterValueType>,
    /// Unit and multiplier of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_of_measure: Option<UnitOfMeasureType>,
}

/// Sampled values taken at one point in time (`MeterValueType`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValueType {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// The sampled values (at least one).
    pub sampled_value: Vec<SampledValueType>,
    /// When the values were sampled.
    pub timestamp: DateTime,
}

/// `MeterValuesRequest`: meter samples for an EVSE outside a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValuesRequest {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
    /// EVSE the values belong to; 0 = main power meter of the station.
    pub evse_id: i32,
    /// The samples (at least one).
    pub meter_value: Vec<MeterValueType>,
}

/// `MeterValuesResponse`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValuesResponse {
    /// Vendor extension data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<CustomData>,
}
