#!/usr/bin/env node
'use strict';
/*
 * Interop tests against npm `ocpp-rpc` (2.2.1), in both directions:
 *
 *  - `ocpulse serve` against charging stations built on the library's RPCClient, the way its
 *    users write them: `client.handle('TriggerMessage', ...)` answers, then the station sends
 *    the requested message with `client.call(...)`. The clients run in strict mode, so the
 *    library validates every frame ocpulse sends (our TriggerMessage requests and our
 *    CALLRESULTs) against its own copy of the OCA schemas; a violation becomes a CALLERROR or
 *    a rejected call, and the test fails. Each test compares what the HTTP API returns with
 *    the exact frames the station wrote on the wire.
 *  - `ocpulse sim` against a CSMS built on the library's RPCServer (strict mode too): the
 *    CSMS sends TriggerMessage and checks that the simulated station answers and then sends
 *    the requested message, valid by the library's schemas.
 *
 * Usage: node test_ocpp_rpc.js --bin PATH/TO/ocpulse [--work-dir DIR] [--pid-file FILE] [-k NAME]
 * Prints one line per test and ends with "N passed, M failed" (also written to
 * WORK_DIR/summary); exits 1 if any failed.
 */

const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');
const { RPCClient, RPCServer } = require('ocpp-rpc');

/** Upper bound of any single wait (connect, call, HTTP round trip, a message to arrive). */
const STEP_MS = 15000;
/** Upper bound of one whole test. */
const TEST_TIMEOUT_MS = 60000;
/** timeoutMs given to the trigger API: how long the server waits for the station. */
const TRIGGER_TIMEOUT_MS = 10000;
/** Upper bound of the server's start-up (until GET /api/v1/stations answers). */
const STARTUP_TIMEOUT_MS = 30000;

const V16 = 'ocpp1.6';
const V201 = 'ocpp2.0.1';

class TestFailure extends Error {}

function check(condition, message) {
    if (!condition) throw new TestFailure(message);
}

const json = value => JSON.stringify(value);
/** JSON with object keys sorted: equal for equal values, whatever order each side wrote. */
const canonical = value => JSON.stringify(value, (_, v) => (v && typeof v === 'object' && !Array.isArray(v)
    ? Object.fromEntries(Object.keys(v).sort().map(k => [k, v[k]]))
    : v));
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const nowIso = () => new Date().toISOString();

/** Awaits with a deadline: a hang becomes a failure that says what hung. */
async function bounded(promise, what, ms = STEP_MS) {
    let timer;
    const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new TestFailure(`timed out after ${ms / 1000}s: ${what}`)), ms);
    });
    try {
        return await Promise.race([promise, deadline]);
    } finally {
        clearTimeout(timer);
    }
}

/** Polls `probe` until it returns a truthy value or the step's deadline passes. */
async function eventually(probe, what) {
    const deadline = Date.now() + STEP_MS;
    for (;;) {
        const value = await probe();
        if (value) return value;
        if (Date.now() > deadline) throw new TestFailure(`timed out after ${STEP_MS / 1000}s: ${what}`);
        await sleep(25);
    }
}

function parseArgs(argv) {
    const args = {};
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '-k') {
            args.select = argv[++i];
            continue;
        }
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
        if (!m) throw new Error(`unexpected argument ${argv[i]}`);
        args[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
    }
    return args;
}

function freePort() {
    return new Promise((resolve, reject) => {
        const probe = net.createServer();
        probe.on('error', reject);
        probe.listen(0, '127.0.0.1', () => {
            const { port } = probe.address();
            probe.close(() => resolve(port));
        });
    });
}

/** One HTTP request with a JSON body (or none); resolves to {status, body}. */
function request(port, method, urlPath, body) {
    return new Promise((resolve, reject) => {
        const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
        const req = http.request({
            host: '127.0.0.1',
            port,
            method,
            path: urlPath,
            headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {},
            timeout: STEP_MS,
        }, res => {
            const chunks = [];
            res.on('data', c => chunks.push(c));
            res.on('end', () => {
                const text = Buffer.concat(chunks).toString();
                let parsed = text;
                try {
                    parsed = text ? JSON.parse(text) : null;
                } catch {
                    // not JSON: handed back as text, for the failure message
                }
                resolve({ status: res.statusCode, body: parsed });
            });
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in ${STEP_MS / 1000}s`)));
        req.on('error', reject);
        if (data) req.write(data);
        req.end();
    });
}

// ------------------------------------------------------------------------------------------
// The processes under test
// ------------------------------------------------------------------------------------------

/** Spawns `bin args`, output to `logPath`, its pid appended to the run's pid file. */
function start(bin, args, logPath, pidFile) {
    const log = fs.openSync(logPath, 'a');
    const child = spawn(bin, args, {
        stdio: ['ignore', log, log],
        env: { ...process.env, NO_COLOR: '1' },
    });
    fs.closeSync(log);
    if (pidFile && child.pid) fs.appendFileSync(pidFile, `${child.pid}\n`);
    child.exited = new Promise(resolve => child.on('exit', code => resolve(code)));
    return child;
}

/** SIGTERM, up to 10 s of grace, then SIGKILL. */
async function stop(child) {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const done = await Promise.race([child.exited.then(() => true), sleep(10000).then(() => false)]);
    if (!done) {
        child.kill('SIGKILL');
        await child.exited;
    }
}

function tail(file, lines = 60) {
    try {
        return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
    } catch (e) {
        return `(no log: ${e.message})`;
    }
}

class Server {
    constructor(bin, workDir, pidFile) {
        Object.assign(this, { bin, workDir, pidFile, port: 0, child: null });
        this.logPath = path.join(workDir, 'ocpulse.log');
    }

    get wsBase() {
        return `ws://127.0.0.1:${this.port}/ocpp`;
    }

    async start() {
        let lastError = '';
        for (let attempt = 1; attempt <= 3; attempt++) {
            this.port = await freePort();
            const dataDir = fs.mkdtempSync(path.join(this.workDir, 'data-'));
            fs.appendFileSync(this.logPath, `--- attempt ${attempt}: port ${this.port}\n`);
            this.child = start(this.bin,
                ['serve', '--listen', `127.0.0.1:${this.port}`, '--data-dir', dataDir],
                this.logPath, this.pidFile);
            const deadline = Date.now() + STARTUP_TIMEOUT_MS;
            while (Date.now() < deadline) {
                if (this.child.exitCode !== null) {
                    lastError = `ocpulse exited with code ${this.child.exitCode} at start-up`;
                    break;
                }
                try {
                    const { status } = await request(this.port, 'GET', '/api/v1/stations');
                    if (status === 200) return;
                    lastError = `GET /api/v1/stations answered ${status}`;
                } catch (e) {
                    lastError = `GET /api/v1/stations: ${e.message}`;
                }
                await sleep(100);
            }
            await stop(this.child);
        }
        throw new Error(`ocpulse did not start: ${lastError}`);
    }

    api(method, urlPath, body) {
        return request(this.port, method, urlPath, body);
    }
}

// ------------------------------------------------------------------------------------------
// Stations built on RPCClient
// ------------------------------------------------------------------------------------------

/** The requested message a station sends after accepting a TriggerMessage. */
function triggeredCall(protocol, params) {
    const what = params.requestedMessage;
    if (protocol === V16) {
        const connectorId = params.connectorId ?? 1;
        switch (what) {
            case 'StatusNotification':
                return ['StatusNotification', { connectorId, errorCode: 'NoError', status: 'Available', timestamp: nowIso() }];
            case 'MeterValues':
                return ['MeterValues', {
                    connectorId,
                    meterValue: [{
                        timestamp: nowIso(),
                        sampledValue: [{ value: '1234', context: 'Trigger', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }],
                    }],
                }];
            case 'Heartbeat':
                return ['Heartbeat', {}];
            case 'BootNotification':
                return ['BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop-16' }];
            default:
                return null;
        }
    }
    const evseId = params.evse?.id ?? 1;
    switch (what) {
        case 'StatusNotification':
            return ['StatusNotification', {
                timestamp: nowIso(), connectorStatus: 'Available', evseId, connectorId: params.evse?.connectorId ?? 1,
            }];
        case 'MeterValues':
            return ['MeterValues', {
                evseId,
                meterValue: [{
                    timestamp: nowIso(),
                    sampledValue: [{ value: 1234, context: 'Trigger', measurand: 'Energy.Active.Import.Register' }],
                }],
            }];
        case 'Heartbeat':
            return ['Heartbeat', {}];
        case 'BootNotification':
            return ['BootNotification', {
                reason: 'Triggered', chargingStation: { model: 'interop-201', vendorName: 'ocpp-rpc' },
            }];
        default:
            return null;
    }
}

/**
 * A station as an ocpp-rpc user writes one, recording every frame on the wire. `strict`
 * (the default) makes the library validate both directions; the bad-input tests turn it
 * off so the station can send what the schemas forbid.
 */
class Station {
    constructor(server, id, protocol, { strict = true } = {}) {
        Object.assign(this, { id, protocol, triggerStatus: 'Accepted', failures: [], wire: [] });
        this.client = new RPCClient({
            endpoint: server.wsBase,
            identity: id,
            protocols: [protocol],
            strictMode: strict,
            reconnect: false,
            callTimeoutMs: STEP_MS,
        });
        this.client.on('message', ({ message, outbound }) => {
            try {
                this.wire.push({ outbound, frame: JSON.parse(message.toString()) });
            } catch {
                this.wire.push({ outbound, frame: null, raw: message.toString() });
            }
        });
        this.client.on('strictValidationFailure', e => this.failures.push(`strict validation: ${e.error?.message}`));
        this.client.on('badMessage', e => this.failures.push(`bad message: ${e.error?.message}`));
        this.client.handle('TriggerMessage', ({ params }) => {
            const status = this.triggerStatus;
            if (status === 'Accepted') {
                const next = triggeredCall(protocol, params);
                // After the answer has gone out, as OCPP asks of a station.
                if (next) {
                    setTimeout(() => {
                        this.client.call(next[0], next[1]).catch(e => this.failures.push(`${next[0]}: ${e.message}`));
                    }, 5);
                }
            }
            return { status };
        });
    }

    async connect() {
        await bounded(this.client.connect(), `${this.id} connecting`);
        return this;
    }

    async boot() {
        const boot = this.protocol === V16
            ? await this.client.call('BootNotification', { chargePointVendor: 'ocpp-rpc', chargePointModel: 'interop-16' })
            : await this.client.call('BootNotification', {
                reason: 'PowerUp', chargingStation: { model: 'interop-201', vendorName: 'ocpp-rpc' },
            });
        check(boot.status === 'Accepted', `${this.id} BootNotification answered ${json(boot)}`);
        check(Number.isInteger(boot.interval) && boot.interval > 0, `${this.id} boot interval ${json(boot.interval)}`);
        if (this.protocol === V16) {
            for (const connectorId of [0, 1]) {
                await this.client.call('StatusNotification', { connectorId, errorCode: 'NoError', status: 'Available', timestamp: nowIso() });
            }
        } else {
            await this.client.call('StatusNotification', { timestamp: nowIso(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
        }
        return this;
    }

    /** Frames of one type and id in one direction, from `from` on. */
    frames(from, { outbound, type, id, action }) {
        return this.wire.slice(from).map(w => w.frame).filter((f, i) => f
            && this.wire[from + i].outbound === outbound
            && f[0] === type
            && (id === undefined || f[1] === id)
            && (action === undefined || f[2] === action));
    }

    close() {
        return this.client.close({ force: true }).catch(() => {});
    }
}

/**
 * POSTs a trigger and checks what every accepted trigger must satisfy: HTTP 200, the
 * station's protocol, `sent` is exactly the TriggerMessage the station received, the
 * station answered it with a CALLRESULT (the library accepted our payload), `messages` are
 * exactly the CALLs the station then wrote (id, action, payload), each acknowledged with a
 * CALLRESULT the library accepted.
 */
async function trigger(ctx, station, body, { expectStatus = 'Accepted', expectCount = 1 } = {}) {
    const mark = station.wire.length;
    const { status, body: response } = await ctx.server.api('POST', `/api/v1/stations/${station.id}/trigger`,
        { ...body, timeoutMs: TRIGGER_TIMEOUT_MS });
    check(status === 200, `POST trigger ${json(body)} answered HTTP ${status}: ${json(response)}`);
    check(response && response.status === expectStatus, `status ${json(response?.status)}, expected ${expectStatus}: ${json(response)}`);
    check(response.protocol === station.protocol, `protocol ${json(response.protocol)}, expected ${station.protocol}`);
    check(response.sent?.action === 'TriggerMessage', `sent.action ${json(response.sent?.action)}`);

    const received = station.frames(mark, { outbound: false, type: 2, action: 'TriggerMessage' });
    check(received.length === 1, `${station.id} received ${received.length} TriggerMessage CALLs: ${json(received)}`);
    const [, triggerId, , triggerPayload] = received[0];
    check(canonical(triggerPayload) === canonical(response.sent.payload),
        `the API reports sent payload ${json(response.sent.payload)} but the station received ${json(triggerPayload)}`);
    const answer = station.frames(mark, { outbound: true, type: 3, id: triggerId });
    check(answer.length === 1 && answer[0][2].status === expectStatus,
        `${station.id} answered the TriggerMessage with ${json(station.frames(mark, { outbound: true, type: 4, id: triggerId })[0] ?? answer[0])}`);

    const messages = response.messages;
    check(Array.isArray(messages), `messages is ${json(messages)}`);
    check(messages.length === expectCount, `${messages.length} messages, expected ${expectCount}: ${json(messages)}`);
    const calls = await eventually(() => {
        const sent = station.frames(mark, { outbound: true, type: 2 });
        return sent.length >= expectCount ? sent : null;
    }, `${station.id} sending its triggered message`);
    const expected = calls.map(f => ({ action: f[2], messageId: f[1], payload: f[3] }));
    const got = messages.map(m => ({ action: m.action, messageId: m.messageId, payload: m.payload }));
    check(canonical(got) === canonical(expected), `the API returned messages ${json(got)}\nbut the station sent ${json(expected)}`);
    if (expectStatus === 'Accepted') check(response.complete === true, `complete is ${json(response.complete)}`);
    for (const [, id] of calls) {
        await eventually(() => station.frames(mark, { outbound: false, type: 3, id }).length === 1
            || station.frames(mark, { outbound: false, type: 4, id }).length === 1,
        `the CSMS answering ${station.id}'s ${id}`);
        const error = station.frames(mark, { outbound: false, type: 4, id });
        check(error.length === 0, `the CSMS answered ${station.id}'s triggered CALL with ${json(error[0])}`);
    }
    // The station's strict mode checked our CALLRESULT before resolving its call().
    await sleep(20);
    check(station.failures.length === 0, `${station.id} reported: ${station.failures.join('; ')}`);
    return { response, messages };
}

// ------------------------------------------------------------------------------------------
// Tests
// ------------------------------------------------------------------------------------------

const TESTS = [];
const test = (name, fn) => TESTS.push({ name, fn });

test('library_strict_mode_rejects_malformed_frames_in_both_roles', async ctx => {
    // Negative control: the very classes under test refuse what the schemas forbid, so a
    // payload of ocpulse's that the library's schemas reject cannot pass unnoticed.
    const loose = new RPCServer({ protocols: [V16], strictMode: false });
    const port = await freePort();
    await loose.listen(port, '127.0.0.1');
    ctx.cleanups.push(() => loose.close({ force: true }).catch(() => {}));
    const connected = new Promise(resolve => loose.once('client', resolve));
    const station = new Station({ wsBase: `ws://127.0.0.1:${port}/ocpp` }, 'PROBE16', V16);
    await station.connect();
    ctx.cleanups.push(() => station.close());
    const csmsSide = await bounded(connected, 'the probe station connecting');
    let code = null;
    try {
        await bounded(csmsSide.call('TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 'one' }),
            'a malformed TriggerMessage');
    } catch (e) {
        if (e instanceof TestFailure) throw e;
        code = e.rpcErrorCode;
    }
    check(code !== null, 'the strict station accepted a TriggerMessage with connectorId "one"');
    check(station.frames(0, { outbound: true, type: 3 }).length === 0, 'the strict station answered the malformed TriggerMessage with a CALLRESULT');

    const csms = await ctx.csms();
    const client = new RPCClient({ endpoint: `ws://127.0.0.1:${csms.port}/ocpp`, identity: 'PROBE-CSMS', protocols: [V16], strictMode: false, reconnect: false });
    await bounded(client.connect(), 'connecting to the strict CSMS');
    ctx.cleanups.push(() => client.close({ force: true }).catch(() => {}));
    code = null;
    try {
        await bounded(client.call('StatusNotification', { connectorId: 1, status: 'Sleepy' }), 'a malformed StatusNotification');
    } catch (e) {
        if (e instanceof TestFailure) throw e;
        code = e.rpcErrorCode;
    }
    check(code !== null, 'the strict CSMS accepted a StatusNotification without errorCode and with status "Sleepy"');
    check(csms.failures.length === 1, `the strict CSMS recorded ${csms.failures.length} validation failures, expected 1`);
});

test('v16_station_boots_accepted_and_reports_connectors_0_1', async ctx => {
    const station = await ctx.station('RPC16', V16);
    await station.boot();
    const { status, body } = await ctx.server.api('GET', '/api/v1/stations/RPC16');
    check(status === 200, `GET station answered HTTP ${status}: ${json(body)}`);
    check(body.connected === true, `connected is ${json(body.connected)}`);
    check(body.protocol === V16, `protocol ${json(body.protocol)}`);
    check(body.registrationStatus === 'Accepted', `registrationStatus ${json(body.registrationStatus)}`);
    const connectors = (body.connectors ?? []).map(c => c.connectorId).sort();
    check(json(connectors) === json([0, 1]), `connectors ${json(connectors)}, expected [0,1]`);
    check(station.failures.length === 0, `station reported: ${station.failures.join('; ')}`);
});

test('v16_status_notification_trigger_returns_the_station_message', async ctx => {
    const station = await ctx.booted('RPC16', V16);
    const { messages } = await trigger(ctx, station, { requestedMessage: 'StatusNotification', connectorId: 1 });
    check(messages[0].action === 'StatusNotification' && messages[0].payload.connectorId === 1,
        `message ${json(messages[0])}`);
});

test('v16_meter_values_trigger_returns_the_station_message', async ctx => {
    const station = await ctx.booted('RPC16', V16);
    const { messages } = await trigger(ctx, station, { requestedMessage: 'MeterValues', connectorId: 1 });
    check(messages[0].payload.meterValue?.[0]?.sampledValue?.[0]?.context === 'Trigger', `message ${json(messages[0])}`);
});

test('v16_heartbeat_trigger_returns_the_station_heartbeat', async ctx => {
    const station = await ctx.booted('RPC16', V16);
    const { messages } = await trigger(ctx, station, { requestedMessage: 'Heartbeat' });
    check(messages[0].action === 'Heartbeat', `message ${json(messages[0])}`);
});

test('v16_rejected_trigger_returns_rejected_without_messages', async ctx => {
    const station = await ctx.booted('RPC16', V16);
    station.triggerStatus = 'Rejected';
    try {
        await trigger(ctx, station, { requestedMessage: 'StatusNotification', connectorId: 1 },
            { expectStatus: 'Rejected', expectCount: 0 });
    } finally {
        station.triggerStatus = 'Accepted';
    }
});

test('v201_station_boots_accepted_and_reports_evse_1_connector_1', async ctx => {
    const station = await ctx.station('RPC201', V201);
    await station.boot();
    const { status, body } = await ctx.server.api('GET', '/api/v1/stations/RPC201');
    check(status === 200, `GET station answered HTTP ${status}: ${json(body)}`);
    check(body.protocol === V201 && body.registrationStatus === 'Accepted', `station ${json(body)}`);
    const connectors = (body.connectors ?? []).map(c => [c.evseId, c.connectorId]);
    check(json(connectors) === json([[1, 1]]), `connectors ${json(connectors)}, expected [[1,1]]`);
});

test('v201_status_notification_trigger_returns_the_station_message', async ctx => {
    const station = await ctx.booted('RPC201', V201);
    const { response, messages } = await trigger(ctx, station,
        { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } });
    check(canonical(response.sent.payload) === canonical({ requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } }),
        `sent payload ${json(response.sent.payload)}`);
    check(messages[0].payload.evseId === 1 && messages[0].payload.connectorId === 1, `message ${json(messages[0])}`);
});

test('v201_meter_values_trigger_returns_the_station_message', async ctx => {
    const station = await ctx.booted('RPC201', V201);
    const { messages } = await trigger(ctx, station, { requestedMessage: 'MeterValues', evse: { id: 1 } });
    check(messages[0].action === 'MeterValues' && messages[0].payload.evseId === 1, `message ${json(messages[0])}`);
});

test('v201_boot_notification_trigger_returns_reason_triggered', async ctx => {
    const station = await ctx.booted('RPC201', V201);
    const { messages } = await trigger(ctx, station, { requestedMessage: 'BootNotification' });
    check(messages[0].action === 'BootNotification' && messages[0].payload.reason === 'Triggered',
        `message ${json(messages[0])}`);
});

/** The error code of a rejected call(), or null if it succeeded. */
async function callError(station, action, payload) {
    try {
        await bounded(station.client.call(action, payload), `${station.id} calling ${action}`);
        return null;
    } catch (e) {
        if (e instanceof TestFailure) throw e;
        return e.rpcErrorCode ?? `(no rpcErrorCode: ${e.message})`;
    }
}

test('v16_invalid_payload_gets_a_callerror_and_the_connection_lives_on', async ctx => {
    const station = await ctx.station('RPCBAD16', V16, { strict: false });
    await station.boot();
    const code = await callError(station, 'StatusNotification', { connectorId: 'one', errorCode: 'NoError', status: 'Available' });
    check(['TypeConstraintViolation', 'FormationViolation', 'PropertyConstraintViolation'].includes(code),
        `a StatusNotification with connectorId "one" got ${json(code)}, expected a 1.6 validation error code`);
    const unknown = await callError(station, 'NoSuchAction', {});
    check(unknown === 'NotImplemented', `an unknown action got ${json(unknown)}, expected NotImplemented`);
    const heartbeat = await bounded(station.client.call('Heartbeat', {}), 'Heartbeat after the bad frames');
    check(typeof heartbeat.currentTime === 'string', `Heartbeat after the bad frames answered ${json(heartbeat)}`);
});

test('v201_invalid_payload_gets_a_callerror_and_the_connection_lives_on', async ctx => {
    const station = await ctx.station('RPCBAD201', V201, { strict: false });
    await station.boot();
    const code = await callError(station, 'StatusNotification', { timestamp: nowIso(), connectorStatus: 'Sleepy', evseId: 1, connectorId: 1 });
    check(['PropertyConstraintViolation', 'FormatViolation', 'TypeConstraintViolation', 'OccurrenceConstraintViolation'].includes(code),
        `a StatusNotification with connectorStatus "Sleepy" got ${json(code)}, expected a 2.0.1 validation error code`);
    const heartbeat = await bounded(station.client.call('Heartbeat', {}), 'Heartbeat after the bad frame');
    check(typeof heartbeat.currentTime === 'string', `Heartbeat after the bad frame answered ${json(heartbeat)}`);
});

// --- ocpulse sim against an RPCServer CSMS ---------------------------------------------

/** A CSMS as an ocpp-rpc user writes one: strict RPCServer, a handler per station CALL. */
class Csms {
    constructor() {
        this.server = new RPCServer({ protocols: [V16, V201], strictMode: true });
        this.clients = new Map();
        this.failures = [];
        this.server.on('client', client => {
            const seen = [];
            this.clients.set(client.identity, { client, seen });
            client.on('strictValidationFailure', e => this.failures.push(`${client.identity} ${e.method}: ${e.error?.message}`));
            const seenAndAnswer = (method, answer) => ({ params }) => {
                seen.push({ method, params, at: Date.now() });
                return answer();
            };
            client.handle('BootNotification',
                seenAndAnswer('BootNotification', () => ({ status: 'Accepted', currentTime: nowIso(), interval: 300 })));
            client.handle('Heartbeat', seenAndAnswer('Heartbeat', () => ({ currentTime: nowIso() })));
            client.handle('StatusNotification', seenAndAnswer('StatusNotification', () => ({})));
            client.handle('MeterValues', seenAndAnswer('MeterValues', () => ({})));
        });
    }

    async listen() {
        this.port = await freePort();
        this.http = await this.server.listen(this.port, '127.0.0.1');
        return this;
    }

    /** The station `id` once it has booted (its BootNotification was answered). */
    booted(id) {
        return eventually(() => {
            const c = this.clients.get(id);
            return c && c.seen.some(s => s.method === 'BootNotification') ? c : null;
        }, `${id} connecting and booting`);
    }

    async close() {
        await this.server.close({ force: true }).catch(() => {});
    }
}

async function simAgainst(ctx, csms, prefix, protocol) {
    const log = path.join(ctx.workDir, `sim-${prefix}.log`);
    const sim = start(ctx.bin, ['sim', '--url', `ws://127.0.0.1:${csms.port}/ocpp`, '--id-prefix', prefix,
        '--stations', '1', '--protocol', protocol === V16 ? '1.6' : '2.0.1', '--summary-secs', '0'], log, ctx.pidFile);
    ctx.cleanups.push(() => stop(sim));
    ctx.logs.push(log);
    return csms.booted(`${prefix}0001`);
}

/** Sends TriggerMessage and waits for the requested message to arrive after the answer. */
async function csmsTrigger(station, params, action, matches) {
    const mark = station.seen.length;
    const answer = await bounded(station.client.call('TriggerMessage', params), `TriggerMessage ${json(params)}`);
    check(answer.status === 'Accepted', `the simulator answered TriggerMessage ${json(params)} with ${json(answer)}`);
    const arrived = await eventually(() => station.seen.slice(mark).find(s => s.method === action && matches(s.params)),
        `the simulator's ${action} after TriggerMessage ${json(params)}`);
    return arrived.params;
}

test('sim_v16_answers_trigger_message_and_sends_the_requested_status', async ctx => {
    const csms = await ctx.csms();
    const station = await simAgainst(ctx, csms, 'RS16-', V16);
    const status = await csmsTrigger(station, { requestedMessage: 'StatusNotification', connectorId: 1 },
        'StatusNotification', p => p.connectorId === 1);
    check(typeof status.status === 'string' && status.errorCode === 'NoError', `StatusNotification ${json(status)}`);
    const meter = await csmsTrigger(station, { requestedMessage: 'MeterValues', connectorId: 1 },
        'MeterValues', p => p.connectorId === 1);
    check(Array.isArray(meter.meterValue) && meter.meterValue.length > 0, `MeterValues ${json(meter)}`);
    const rejected = await bounded(station.client.call('TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 9 }),
        'TriggerMessage for a connector the station lacks');
    check(rejected.status === 'Rejected', `TriggerMessage for connector 9 answered ${json(rejected)}, expected Rejected`);
    check(csms.failures.length === 0, `strict validation failed: ${csms.failures.join('; ')}`);
});

test('sim_v201_answers_trigger_message_and_sends_the_requested_messages', async ctx => {
    const csms = await ctx.csms();
    const station = await simAgainst(ctx, csms, 'RS201-', V201);
    const status = await csmsTrigger(station, { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } },
        'StatusNotification', p => p.evseId === 1 && p.connectorId === 1);
    check(typeof status.connectorStatus === 'string', `StatusNotification ${json(status)}`);
    const meter = await csmsTrigger(station, { requestedMessage: 'MeterValues', evse: { id: 1 } },
        'MeterValues', p => p.evseId === 1);
    check(Array.isArray(meter.meterValue) && meter.meterValue.length > 0, `MeterValues ${json(meter)}`);
    // OCPP 2.0.1 F06.FR.17: a station whose boot was accepted rejects a triggered BootNotification.
    const boot = await bounded(station.client.call('TriggerMessage', { requestedMessage: 'BootNotification' }),
        'TriggerMessage BootNotification');
    check(boot.status === 'Rejected', `TriggerMessage BootNotification after an accepted boot answered ${json(boot)}, expected Rejected`);
    check(csms.failures.length === 0, `strict validation failed: ${csms.failures.join('; ')}`);
});

// ------------------------------------------------------------------------------------------
// Runner
// ------------------------------------------------------------------------------------------

class Context {
    constructor(server, bin, workDir, pidFile) {
        Object.assign(this, { server, bin, workDir, pidFile, stations: new Map(), cleanups: [], logs: [] });
    }

    async station(id, protocol, options) {
        const station = await new Station(this.server, id, protocol, options).connect();
        this.cleanups.push(() => station.close());
        return station;
    }

    /** The booted station `id`, shared by the tests of one version (connected once). */
    async booted(id, protocol) {
        let station = this.stations.get(id);
        if (!station || station.client.state !== RPCClient.OPEN) {
            station = new Station(this.server, id, protocol);
            await station.connect();
            await station.boot();
            this.stations.set(id, station);
        }
        return station;
    }

    async csms() {
        const csms = await new Csms().listen();
        this.cleanups.push(() => csms.close());
        return csms;
    }

    async afterTest() {
        const cleanups = this.cleanups.splice(0).reverse();
        for (const cleanup of cleanups) await cleanup();
    }
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    if (!args.bin) {
        console.error('usage: node test_ocpp_rpc.js --bin PATH/TO/ocpulse [--work-dir DIR] [--pid-file FILE] [-k NAME]');
        return 2;
    }
    const bin = path.resolve(args.bin);
    const workDir = args['work-dir'] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ocpulse-interop-rpc-'));
    fs.mkdirSync(workDir, { recursive: true });
    const results = { passed: 0, failed: 0 };
    const server = new Server(bin, workDir, args['pid-file']);
    const ctx = new Context(server, bin, workDir, args['pid-file']);
    let finished = false;
    const finish = async () => {
        for (const station of ctx.stations.values()) await station.close();
        await ctx.afterTest();
        await stop(server.child);
        const summary = `${results.passed} passed, ${results.failed} failed`;
        if (args['work-dir']) fs.writeFileSync(path.join(workDir, 'summary'), `${summary}\n`);
        console.log(summary);
    };
    process.on('SIGTERM', async () => {
        if (!finished) {
            results.failed += 1;
            console.log('FAIL run interrupted before every test finished');
        }
        await finish();
        process.exit(143);
    });
    try {
        console.log(`ocpulse: ${bin}`);
        try {
            await server.start();
        } catch (e) {
            results.failed += 1;
            console.log(`FAIL server_start: ${e.message}\n--- server log tail ---\n${tail(server.logPath)}`);
            return 1;
        }
        console.log(`server on 127.0.0.1:${server.port}; data under ${workDir}`);
        const selected = TESTS.filter(t => !args.select || t.name.includes(args.select));
        for (const t of selected) {
            const started = Date.now();
            try {
                await bounded(t.fn(ctx), `the whole test ${t.name}`, TEST_TIMEOUT_MS);
                results.passed += 1;
                console.log(`ok   ${t.name} (${((Date.now() - started) / 1000).toFixed(2)}s)`);
            } catch (e) {
                results.failed += 1;
                console.log(`FAIL ${t.name}: ${e instanceof TestFailure ? e.message : e.stack}`);
                for (const log of ctx.logs) console.log(`--- ${path.basename(log)} tail ---\n${tail(log, 20)}`);
            } finally {
                await ctx.afterTest();
                ctx.logs = [];
            }
        }
        if (selected.length === 0) {
            results.failed += 1;
            console.log('FAIL no test matched');
        }
        finished = true;
        if (results.failed) console.log(`--- server log tail (${server.logPath}) ---\n${tail(server.logPath)}\n--- end of server log ---`);
        return results.failed ? 1 : 0;
    } finally {
        finished = true;
        await finish();
    }
}

main().then(code => process.exit(code), e => {
    console.error(e);
    process.exit(1);
});
