#!/usr/bin/env node
'use strict';
/*
 * Benchmark peer CSMS built the way a user of npm `ocpp-rpc` (2.2.1) would build one:
 * an RPCServer in strict mode (schema validation on, both directions) with
 * client.handle(...) handlers, plus node's own `http` module for the API.
 *
 * One port (--port, 127.0.0.1 only) serves both
 *   - the station WebSocket   ws://127.0.0.1:P/ocpp/{stationId}  (ocpp1.6 / ocpp2.0.1)
 *   - the HTTP API            GET  /api/v1/stations
 *                             POST /api/v1/stations/{id}/trigger
 * (http.createServer answers the API; its 'upgrade' event goes to server.handleUpgrade).
 */

const http = require('http');
const { RPCServer, TimeoutError } = require('ocpp-rpc');

const DEFAULT_TIMEOUT_MS = 10000;

function parseArgs(argv) {
    const args = {};
    for (let i = 0; i < argv.length; i++) {
        const m = /^--([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
        if (!m) continue;
        args[m[1]] = m[2] !== undefined ? m[2] : argv[++i];
    }
    return args;
}

const args = parseArgs(process.argv.slice(2));
const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0) {
    console.error('usage: node peer.js --port P');
    process.exit(2);
}

const nowIso = () => new Date().toISOString();
let nextTransactionId = 1;

/** station id -> {client, protocol, waiters: [{action, connectorId, evseId, resolve, reject}]} */
const stations = new Map();

/** Whether a station CALL's payload is about the connector/EVSE a waiter asked for. */
function matches(protocol, w, params) {
    if (protocol === 'ocpp1.6') {
        if ((w.action === 'StatusNotification' || w.action === 'MeterValues') && w.connectorId != null) {
            return params.connectorId === w.connectorId;
        }
        return true;
    }
    if (w.action === 'StatusNotification' && w.evseId != null) {
        return params.evseId === w.evseId && (w.connectorId == null || params.connectorId === w.connectorId);
    }
    if (w.action === 'MeterValues' && w.evseId != null) {
        return params.evseId === w.evseId;
    }
    return true;
}

/** Hands a received station CALL to the first matching pending trigger. */
function offer(station, action, messageId, params) {
    const waiters = station.waiters;
    if (waiters.length === 0) return;
    const i = waiters.findIndex(w => w.action === action && matches(station.protocol, w, params));
    if (i < 0) return;
    const [w] = waiters.splice(i, 1);
    w.resolve({ action, messageId, payload: params });
}

const server = new RPCServer({
    protocols: ['ocpp1.6', 'ocpp2.0.1'],
    strictMode: true,
});

server.on('client', client => {
    const protocol = client.protocol;
    if (protocol !== 'ocpp1.6' && protocol !== 'ocpp2.0.1') {
        client.close({ code: 1002, reason: 'unsupported subprotocol' });
        return;
    }
    const id = client.identity;
    const station = { client, protocol, waiters: [] };
    const previous = stations.get(id);
    stations.set(id, station);
    if (previous) previous.client.close({ code: 1001, reason: 'replaced by new connection' });

    client.once('close', () => {
        if (stations.get(id) === station) stations.delete(id);
        for (const w of station.waiters.splice(0)) w.reject(new Error('station disconnected'));
    });

    client.handle('BootNotification', ({ messageId, params }) => {
        offer(station, 'BootNotification', messageId, params);
        return { status: 'Accepted', currentTime: nowIso(), interval: 300 };
    });
    client.handle('Heartbeat', ({ messageId, params }) => {
        offer(station, 'Heartbeat', messageId, params);
        return { currentTime: nowIso() };
    });
    client.handle('StatusNotification', ({ messageId, params }) => {
        offer(station, 'StatusNotification', messageId, params);
        return {};
    });
    client.handle('MeterValues', ({ messageId, params }) => {
        offer(station, 'MeterValues', messageId, params);
        return {};
    });

    if (protocol === 'ocpp1.6') {
        client.handle('Authorize', () => ({ idTagInfo: { status: 'Accepted' } }));
        client.handle('StartTransaction', () => ({
            transactionId: nextTransactionId++,
            idTagInfo: { status: 'Accepted' },
        }));
        client.handle('StopTransaction', ({ params }) =>
            params.idTag !== undefined ? { idTagInfo: { status: 'Accepted' } } : {});
    } else {
        client.handle('Authorize', () => ({ idTokenInfo: { status: 'Accepted' } }));
        client.handle('TransactionEvent', ({ params }) =>
            params.idToken !== undefined ? { idTokenInfo: { status: 'Accepted' } } : {});
    }
});

/** The waiter and TriggerMessage payload for `body`, in the station's version. */
function planTrigger(protocol, body) {
    const requested = body.requestedMessage;
    const evse = body.evse && typeof body.evse === 'object' ? body.evse : null;
    if (protocol === 'ocpp1.6') {
        // 1.6 has only connectors: EVSE n is connector n.
        const connectorId = body.connectorId ?? (evse ? evse.id : undefined);
        const payload = { requestedMessage: requested };
        if (connectorId !== undefined) payload.connectorId = connectorId;
        return { payload, waiter: { action: requested, connectorId } };
    }
    let target = null;
    if (evse) {
        target = { id: evse.id };
        if (evse.connectorId !== undefined) target.connectorId = evse.connectorId;
    } else if (body.connectorId !== undefined) {
        // 1.6-style body: connector n is EVSE n; a StatusNotification trigger must name the
        // connector too (F06.FR.13), and these peers assume one connector per EVSE.
        target = { id: body.connectorId };
        if (requested === 'StatusNotification') target.connectorId = 1;
    }
    const payload = { requestedMessage: requested };
    if (target) payload.evse = target;
    return {
        payload,
        waiter: { action: requested, evseId: target?.id, connectorId: target?.connectorId },
    };
}

function sendJson(res, status, body) {
    const data = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
    res.end(data);
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        req.on('data', c => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

async function trigger(req, res, stationId) {
    const started = Date.now();
    const station = stations.get(stationId);
    if (!station) return sendJson(res, 404, { error: `station ${JSON.stringify(stationId)} is not connected` });

    let body;
    try {
        body = JSON.parse(await readBody(req));
    } catch (err) {
        return sendJson(res, 400, { error: 'body must be JSON' });
    }
    if (!body || typeof body.requestedMessage !== 'string') {
        return sendJson(res, 400, { error: 'requestedMessage is required, e.g. {"requestedMessage": "StatusNotification", "connectorId": 1}' });
    }
    const timeoutMs = body.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (typeof timeoutMs !== 'number' || !(timeoutMs > 0)) {
        return sendJson(res, 400, { error: 'timeoutMs must be a positive number of milliseconds' });
    }
    const deadline = started + timeoutMs;
    const { payload, waiter } = planTrigger(station.protocol, body);

    // Register before sending: the triggered CALL may arrive right behind the response.
    const message = new Promise((resolve, reject) => {
        waiter.resolve = resolve;
        waiter.reject = reject;
    });
    message.catch(() => {});
    station.waiters.push(waiter);
    const forget = () => {
        const i = station.waiters.indexOf(waiter);
        if (i >= 0) station.waiters.splice(i, 1);
    };

    let response;
    try {
        response = await station.client.call('TriggerMessage', payload, { callTimeoutMs: timeoutMs });
    } catch (err) {
        forget();
        if (err instanceof TimeoutError) {
            return sendJson(res, 504, { error: `station ${JSON.stringify(stationId)} did not answer TriggerMessage within ${timeoutMs} ms` });
        }
        if (err.rpcErrorCode) {
            return sendJson(res, 502, { error: `TriggerMessage failed: ${err.rpcErrorCode}: ${err.message}` });
        }
        return sendJson(res, 404, { error: `station ${JSON.stringify(stationId)} disconnected: ${err.message}` });
    }
    const status = response.status;
    if (status !== 'Accepted') {
        forget();
        return sendJson(res, 200, { stationId, protocol: station.protocol, status, messages: [] });
    }

    let timer;
    const timeout = new Promise(resolve => {
        timer = setTimeout(resolve, Math.max(deadline - Date.now(), 0), null);
    });
    try {
        const got = await Promise.race([message, timeout]);
        if (got === null) {
            return sendJson(res, 504, { error: `station ${JSON.stringify(stationId)} accepted the trigger but sent no ${body.requestedMessage} within ${timeoutMs} ms` });
        }
        return sendJson(res, 200, { stationId, protocol: station.protocol, status, messages: [got] });
    } catch (err) {
        return sendJson(res, 404, { error: `station ${JSON.stringify(stationId)} disconnected` });
    } finally {
        clearTimeout(timer);
        forget();
    }
}

const TRIGGER_PATH = /^\/api\/v1\/stations\/([^/]+)\/trigger$/;

const httpServer = http.createServer((req, res) => {
    const path = req.url.split('?', 1)[0];
    if (req.method === 'GET' && path === '/api/v1/stations') {
        return sendJson(res, 200, { connected: stations.size });
    }
    const m = TRIGGER_PATH.exec(path);
    if (m && req.method === 'POST') {
        let stationId;
        try {
            stationId = decodeURIComponent(m[1]);
        } catch (err) {
            return sendJson(res, 400, { error: 'bad station id' });
        }
        trigger(req, res, stationId).catch(err => {
            if (!res.headersSent) sendJson(res, 500, { error: String(err && err.message || err) });
        });
        return;
    }
    sendJson(res, 404, { error: 'not found' });
});

httpServer.on('upgrade', (req, socket, head) => {
    const path = req.url.split('?', 1)[0];
    if (!/^\/ocpp\/[^/]+$/.test(path)) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
    }
    server.handleUpgrade(req, socket, head);
});

httpServer.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
    console.log(`peer-node (ocpp-rpc 2.2.1) listening on 127.0.0.1:${port}`);
});

const shutdown = () => {
    httpServer.close();
    process.exit(0);
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
