//! MeterValues and the sampled-value model shared with StopTransaction.

use serde::{Deserialize, Deserializer, Serialize};

use crate::common::DateTime;

ocpp_enum! {
    /// Why a value was sampled (1.6 `ReadingContext`; schema default `Sample.Periodic`).
    pub enum ReadingContext {
        /// Value taken at start of an interruption.
        InterruptionBegin = "Interruption.Begin",
        /// Value taken when resuming after an interruption.
        InterruptionEnd = "Interruption.End",
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
        /// Value for any other situation.
        Other = "Other",
    }
}

ocpp_enum! {
    /// Encoding of a sampled value (1.6 `ValueFormat`; default `Raw`).
    pub enum ValueFormat {
        /// Plain numeric text.
        Raw = "Raw",
        /// Binary signed data, hex-encoded.
        SignedData = "SignedData",
    }
}

ocpp_enum! {
    /// What a sampled value measures (1.6 `Measurand`; default `Energy.Active.Import.Register`).
    pub enum Measurand {
        /// Energy exported by the EV, register value (Wh or kWh).
        EnergyActiveExportRegister = "Energy.Active.Export.Register",
        /// Energy imported by the EV, register value (Wh or kWh).
        EnergyActiveImportRegister = "Energy.Active.Import.Register",
        /// Reactive energy exported, register value (varh or kvarh).
        EnergyReactiveExportRegister = "Energy.Reactive.Export.Register",
        /// Reactive energy imported, register value (varh or kvarh).
        EnergyReactiveImportRegister = "Energy.Reactive.Import.Register",
        /// Energy exported during the last interval.
        EnergyActiveExportInterval = "Energy.Active.Export.Interval",
        /// Energy imported during the last interval.
        EnergyActiveImportInterval = "Energy.Active.Import.Interval",
        /// Reactive energy exported during the last interval.
        EnergyReactiveExportInterval = "Energy.Reactive.Export.Interval",
        /// Reactive energy imported during the last interval.
        EnergyReactiveImportInterval = "Energy.Reactive.Import.Interval",
        /// Instantaneous active power exported by the EV (W or kW).
        PowerActiveExport = "Power.Active.Export",
        /// Instantaneous active power imported by the EV (W or kW).
        PowerActiveImport = "Power.Active.Import",
        /// Maximum power offered to the EV.
        PowerOffered = "Power.Offered",
        /// Instantaneous reactive power exported (var or kvar).
        PowerReactiveExport = "Power.Reactive.Export",
        /// Instantaneous reactive power imported (var or kvar).
        PowerReactiveImport = "Power.Reactive.Import",
        /// Instantaneous power factor.
        PowerFactor = "Power.Factor",
        /// Instantaneous current flow to the EV (A).
        CurrentImport = "Current.Import",
        /// Instantaneous current flow from the EV (A).
        CurrentExport = "Current.Export",
        /// Maximum current offered to the EV (A).
        CurrentOffered = "Current.Offered",
        /// Instantaneous AC RMS supply voltage (V).
        Voltage = "Voltage",
        /// Instantaneous power-line frequency.
        Frequency = "Frequency",
        /// Temperature reading inside the Charge Point.
        Temperature = "Temperature",
        /// State of charge of the EV battery (Percent).
        SoC = "SoC",
        /// Fan speed (revolutions per minute).
        Rpm = "RPM",
    }
}

ocpp_enum! {
    /// Electrical phase a value refers to (1.6 `Phase`).
    pub enum Phase {
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
    /// Where a value was measured (1.6 `Location`; default `Outlet`).
    pub enum Location {
        /// Measurement inside the cable.
        Cable = "Cable",
        /// Measurement taken by the EV.
        Ev = "EV",
        /// Measurement at the network ("grid") inlet connection.
        Inlet = "Inlet",
        /// Measurement at a connector (outlet).
        Outlet = "Outlet",
        /// Measurement inside the Charge Point body.
        Body = "Body",
    }
}

ocpp_enum! {
    /// Unit of a sampled value (1.6 `UnitOfMeasure`; default `Wh`).
    ///
    /// The schemas contain both the original typo `"Celcius"` and `"Celsius"`;
    /// `"Hertz"` is only in this copy's `MeterValues.json` (not `StopTransaction.json`).
    pub enum UnitOfMeasure {
        /// Watt-hours (energy).
        Wh = "Wh",
        /// Kilowatt-hours (energy).
        KWh = "kWh",
        /// Var-hours (reactive energy).
        Varh = "varh",
        /// Kilovar-hours (reactive energy).
        Kvarh = "kvarh",
        /// Watts (power).
        W = "W",
        /// Kilowatts (power).
        KW = "kW",
        /// Volt-ampere (apparent power).
        Va = "VA",
        /// Kilovolt-ampere (apparent power).
        KVa = "kVA",
        /// Vars (reactive power).
        Var = "var",
        /// Kilovars (reactive power).
        Kvar = "kvar",
        /// Amperes (current).
        A = "A",
        /// Voltage (r.m.s. AC).
        V = "V",
        /// Degrees Kelvin (temperature).
        K = "K",
        /// Degrees Celsius, in the original 1.6 misspelling.
        Celcius = "Celcius",
        /// Degrees Celsius, correct spelling (errata).
        Celsius = "Celsius",
        /// Degrees Fahrenheit (temperature).
        Fahrenheit = "Fahrenheit",
        /// Percentage.
        Percent = "Percent",
        /// Hertz (frequency), present in `MeterValues.json` only.
        Hertz = "Hertz",
    }
}

/// One measured value with its metadata (1.6 `SampledValue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledValue {
    /// The value as text (a number for `Raw`, hex data for `SignedData`). A JSON number,
    /// which some stations send and the lenient policy accepts, is read as its decimal text.
    #[serde(deserialize_with = "text_or_number")]
    pub value: String,
    /// Why the value was sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ReadingContext>,
    /// Raw or signed data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ValueFormat>,
    /// What was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurand: Option<Measurand>,
    /// Phase the value applies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// Where the value was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Unit of the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<UnitOfMeasure>,
}

/// Sampled values taken at one point in time (1.6 `MeterValue`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValue {
    /// When the values were sampled.
    pub timestamp: DateTime,
    /// The sampled values (at least one per `MeterValues.json`).
    pub sampled_value: Vec<SampledValue>,
}

/// `MeterValues.req`: meter samples for a connector, optionally within a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeterValuesRequest {
    /// Connector the values belong to; 0 = main energy meter of the Charge Point.
    pub connector_id: i32,
    /// Transaction the values belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<i32>,
    /// The samples (at least one).
    pub meter_value: Vec<MeterValue>,
}

/// `MeterValues.conf`: empty acknowledgement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MeterValuesResponse {}

/// A 1.6 sampled value as text, whether sent as the schema's string or as a JSON number.
fn text_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TextOrNumber {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match TextOrNumber::deserialize(deserializer)? {
        TextOrNumber::Text(text) => text,
        TextOrNumber::Number(number) => number.to_string(),
    })
}
