//! Meter values of both versions as one [`MeterSample`] type, with the spec's defaults
//! filled in, so meter rows, alert rules and trigger markers read them the same way.

use std::borrow::Cow;

use ocpp_types::{v16, v201};

use super::{Call2, Call16, StationCall};

/// The measurand when a sampled value names none (1.6 §7.31, 2.0.1 `SampledValueType`).
pub const DEFAULT_MEASURAND: &str = v16::Measurand::EnergyActiveImportRegister.as_str();

/// Where a value was measured when the sample does not say (both versions).
const DEFAULT_LOCATION: &str = v16::Location::Outlet.as_str();

/// Why a value was sampled when the sample does not say (both versions).
const DEFAULT_CONTEXT: &str = v16::ReadingContext::SamplePeriodic.as_str();

/// The unit of energy when none is stated (and of a 2.0.1 `unitOfMeasure` without a unit).
const DEFAULT_ENERGY_UNIT: &str = v16::UnitOfMeasure::Wh.as_str();

/// One sampled value of one meter reading, either version.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterSample<'a> {
    /// The station's timestamp of the reading it belongs to, as sent.
    pub timestamp: &'a str,
    /// What was measured ([`DEFAULT_MEASURAND`] unless stated).
    pub measurand: &'static str,
    /// The phase, if stated.
    pub phase: Option<&'static str>,
    /// Where it was measured (`Outlet` unless stated).
    pub location: &'static str,
    /// Why it was sampled (`Sample.Periodic` unless stated).
    pub context: &'static str,
    /// The unit exactly as the station stated it (1.6 `unit`, 2.0.1 `unitOfMeasure.unit`).
    pub stated_unit: Option<&'a str>,
    /// The unit the spec implies when none is stated.
    implied_unit: Option<&'static str>,
    /// 2.0.1 `unitOfMeasure.multiplier`, a power of ten (0 unless stated); `None` on 1.6.
    pub multiplier: Option<i64>,
    /// The value as a number; `None` when it is not one (1.6 `SignedData`, odd text).
    pub value: Option<f64>,
}

impl<'a> MeterSample<'a> {
    /// The unit: as stated, else `Wh` for an energy measurand (and for any 2.0.1 sample
    /// with a `unitOfMeasure`, the schema's default), else none.
    pub fn unit(&self) -> Option<&'a str> {
        self.stated_unit.or(self.implied_unit)
    }

    /// Whether the sample says it was taken because of a TriggerMessage.
    pub fn is_triggered(&self) -> bool {
        self.context == v16::ReadingContext::Trigger.as_str()
    }

    /// The fields both versions share, defaults filled in; units and value left empty.
    fn described(
        timestamp: &'a str,
        measurand: Option<&'static str>,
        phase: Option<&'static str>,
        location: Option<&'static str>,
        context: Option<&'static str>,
    ) -> Self {
        let measurand = measurand.unwrap_or(DEFAULT_MEASURAND);
        Self {
            timestamp,
            measurand,
            phase,
            location: location.unwrap_or(DEFAULT_LOCATION),
            context: context.unwrap_or(DEFAULT_CONTEXT),
            stated_unit: None,
            implied_unit: measurand
                .starts_with("Energy")
                .then_some(DEFAULT_ENERGY_UNIT),
            multiplier: None,
            value: None,
        }
    }

    /// A 1.6 sampled value: its value is decimal text.
    fn v16(timestamp: &'a str, s: &'a v16::SampledValue) -> Self {
        Self {
            stated_unit: s.unit.map(v16::UnitOfMeasure::as_str),
            value: s.value.trim().parse::<f64>().ok().filter(|v| v.is_finite()),
            ..Self::described(
                timestamp,
                s.measurand.map(v16::Measurand::as_str),
                s.phase.map(v16::Phase::as_str),
                s.location.map(v16::Location::as_str),
                s.context.map(v16::ReadingContext::as_str),
            )
        }
    }

    /// A 2.0.1 sampled value: a number with a unit and a power-of-ten multiplier.
    fn v201(timestamp: &'a str, s: &'a v201::SampledValueType) -> Self {
        let described = Self::described(
            timestamp,
            s.measurand.map(v201::MeasurandEnumType::as_str),
            s.phase.map(v201::PhaseEnumType::as_str),
            s.location.map(v201::LocationEnumType::as_str),
            s.context.map(v201::ReadingContextEnumType::as_str),
        );
        let uom = s.unit_of_measure.as_ref();
        Self {
            stated_unit: uom.and_then(|u| u.unit.as_deref()),
            implied_unit: match uom {
                Some(_) => Some(DEFAULT_ENERGY_UNIT),
                None => described.implied_unit,
            },
            multiplier: Some(uom.and_then(|u| u.multiplier).map_or(0, i64::from)),
            value: Some(s.value),
            ..described
        }
    }
}

/// The meter readings of one message, oldest first as sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Readings<'a> {
    /// 1.6 `meterValue` / `transactionData`.
    V16(&'a [v16::MeterValue]),
    /// 2.x `meterValue`.
    V2(&'a [v201::MeterValueType]),
}

impl<'a> Readings<'a> {
    /// Every sampled value, reading by reading, in the order sent.
    pub fn samples(self) -> impl Iterator<Item = MeterSample<'a>> {
        let (old, new): (&[v16::MeterValue], &[v201::MeterValueType]) = match self {
            Self::V16(r) => (r, &[]),
            Self::V2(r) => (&[], r),
        };
        let old = old.iter().flat_map(|r| {
            let at = r.timestamp.as_str();
            r.sampled_value.iter().map(move |s| MeterSample::v16(at, s))
        });
        let new = new.iter().flat_map(|r| {
            let at = r.timestamp.as_str();
            r.sampled_value
                .iter()
                .map(move |s| MeterSample::v201(at, s))
        });
        old.chain(new)
    }

    /// How many readings there are (`meterValue` elements).
    pub fn len(self) -> usize {
        match self {
            Self::V16(r) => r.len(),
            Self::V2(r) => r.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The newest reading's timestamp (readings are sent oldest first).
    pub fn latest_timestamp(self) -> Option<&'a str> {
        match self {
            Self::V16(r) => r.last().map(|m| m.timestamp.as_str()),
            Self::V2(r) => r.last().map(|m| m.timestamp.as_str()),
        }
    }
}

/// The meter values a message carries and where they belong.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterReport<'a> {
    /// 2.0.1 EVSE (`evseId`, or a TransactionEvent's `evse.id`; 0 = main meter).
    pub evse_id: Option<i64>,
    /// 1.6 `connectorId` (0 = main meter), or a TransactionEvent's `evse.connectorId`.
    pub connector_id: Option<i64>,
    /// The transaction the message names.
    pub transaction_id: Option<Cow<'a, str>>,
    /// The readings.
    pub readings: Readings<'a>,
}

impl StationCall {
    /// The meter values of a MeterValues (both versions), a 1.6 StopTransaction's
    /// `transactionData` or a 2.0.1 TransactionEvent's `meterValue`, where present.
    pub fn meter(&self) -> Option<MeterReport<'_>> {
        let (evse_id, connector_id, readings) = match self {
            Self::V16(Call16::MeterValues(m)) => (
                None,
                Some(m.connector_id.into()),
                Readings::V16(&m.meter_value),
            ),
            Self::V16(Call16::StopTransaction(s)) => {
                (None, None, Readings::V16(s.transaction_data.as_deref()?))
            }
            Self::V2(Call2::MeterValues(m)) => {
                (Some(m.evse_id.into()), None, Readings::V2(&m.meter_value))
            }
            Self::V2(Call2::TransactionEvent(e)) => (
                e.evse.as_ref().map(|evse| evse.id.into()),
                e.evse
                    .as_ref()
                    .and_then(|evse| evse.connector_id.map(i64::from)),
                Readings::V2(e.meter_value.as_deref()?),
            ),
            _ => return None,
        };
        Some(MeterReport {
            evse_id,
            connector_id,
            transaction_id: self.transaction_id(),
            readings,
        })
    }
}
