// The labkit sandbox IPFS node: Helia with a kubo-compatible RPC API and path gateway, on 127.0.0.1 only.
//
//   node server.js --repo DIR --api-port N --gateway-port N --swarm-port N [--fetch-timeout MS] [--allow-origin O,...]
//
// RPC (POST): /api/v0/add, /api/v0/dag/import, /api/v0/id, /api/v0/swarm/connect, /api/v0/swarm/peers,
// /api/v0/version, /api/v0/labkit/stats. As kubo, a request from a web page of another origin (an Origin or
// Referer header that is not the API's own address nor in --allow-origin) is refused with 403.
// Gateway (GET/HEAD): /ipfs/{cid}/{path}; ?format=car&dag-scope=block (or Accept: application/vnd.ipld.car)
// answers a CARv1 of the blocks along the path with X-Ipfs-Roots, as kubo does, which is what ipfsspec needs;
// a directory answers an HTML listing, a file honours Range; a block not found within --fetch-timeout is a 504.
// Blocks and decoded directories are kept in memory (LRU caches): a zarr read asks the same path prefix per chunk.
// libp2p listens on loopback TCP only, with bitswap; no bootstrap, DHT, mDNS or delegated routing.

// Node 20 lacks Promise.withResolvers, which current libp2p uses.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

import http from 'node:http'
import { parseArgs } from 'node:util'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'

import { createHeliaLight } from 'helia'
import { withLibp2pLight } from '@helia/libp2p'
import { withBitswap } from '@helia/bitswap'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { exporter } from 'ipfs-unixfs-exporter'
import { UnixFS } from 'ipfs-unixfs'
import * as dagPb from '@ipld/dag-pb'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'

const { values: args } = parseArgs({
  options: {
    repo: { type: 'string' },
    'api-port': { type: 'string' },
    'gateway-port': { type: 'string' },
    'swarm-port': { type: 'string', default: '0' },
    'fetch-timeout': { type: 'string', default: '10000' },
    'allow-origin': { type: 'string', default: '' }
  }
})
const HOST = '127.0.0.1'
const RAW = 0x55
const DAG_PB = 0x70
const FETCH_TIMEOUT_MS = Number(args['fetch-timeout'])
const API_ORIGINS = [`http://${HOST}:${args['api-port']}`, `http://localhost:${args['api-port']}`,
  ...args['allow-origin'].split(',').map(o => o.trim()).filter(o => o.length > 0)]

const stats = { gateway_requests: 0, gateway_car_requests: 0, blocks_added: 0, blocks_stored: 0, api_requests: 0 }
const servedPaths = [] // the last gateway paths, for tests and notebooks that check who read what

// ------------------------------------------------------------------ the node
mkdirSync(join(args.repo, 'blocks'), { recursive: true })
mkdirSync(join(args.repo, 'datastore'), { recursive: true })
const fsBlocks = new FsBlockstore(join(args.repo, 'blocks'))
const counted = new Proxy(fsBlocks, {
  get (target, prop) {
    const value = Reflect.get(target, prop)
    if (prop === 'put' && typeof value === 'function') {
      return async (...a) => { stats.blocks_stored++; return value.apply(target, a) }
    }
    return typeof value === 'function' ? value.bind(target) : value
  }
})
const datastore = new FsDatastore(join(args.repo, 'datastore'))
await fsBlocks.open()
await datastore.open()

const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore: counted, datastore, routers: [] }), {
  addresses: { listen: [`/ip4/${HOST}/tcp/${args['swarm-port']}`] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  peerDiscovery: [],
  services: { identify: identify() },
  connectionGater: { denyDialMultiaddr: () => false }
}))
await helia.start()

// ------------------------------------------------------------------ helpers
function sendJson (res, status, body, headers = {}) {
  const raw = Buffer.from(JSON.stringify(body) + '\n')
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': raw.length, ...headers })
  res.end(raw)
}

function rpcError (res, status, message) {
  sendJson(res, status, { Message: message, Code: 0, Type: 'error' })
}

async function readBody (req) {
  const chunks = []
  for await (const c of req) chunks.push(c)
  return Buffer.concat(chunks)
}

// multipart/form-data as kubo's clients send it: one part per file or directory, named by its path
function parseMultipart (body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType || '')
  if (!m) throw new Error('expected a multipart/form-data body with a boundary')
  const boundary = Buffer.from('--' + (m[1] || m[2]).trim())
  const parts = []
  let pos = body.indexOf(boundary)
  while (pos !== -1) {
    pos += boundary.length
    if (body.slice(pos, pos + 2).toString() === '--') break
    pos += 2 // CRLF
    const headerEnd = body.indexOf('\r\n\r\n', pos)
    if (headerEnd === -1) throw new Error('malformed multipart part')
    const headers = {}
    for (const line of body.slice(pos, headerEnd).toString('utf8').split('\r\n')) {
      const i = line.indexOf(':')
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim()
    }
    const next = body.indexOf(boundary, headerEnd + 4)
    if (next === -1) throw new Error('unterminated multipart body')
    const content = body.slice(headerEnd + 4, next - 2) // strip CRLF before the boundary
    const disposition = headers['content-disposition'] || ''
    const fn = /filename\*?=(?:UTF-8'')?"?([^";]*)"?/i.exec(disposition)
    const name = decodeURIComponent((fn && fn[1]) || headers['abspath'] || '')
    parts.push({ name, type: headers['content-type'] || 'application/octet-stream', content })
    pos = next
  }
  return parts
}

function addOptions (q) {
  const cidVersion = Number(q.get('cid-version') ?? 0)
  const rawLeavesParam = q.get('raw-leaves')
  const rawLeaves = rawLeavesParam === null ? cidVersion === 1 : rawLeavesParam === 'true'
  const chunker = q.get('chunker') ?? 'size-262144'
  const cm = /^size-(\d+)$/.exec(chunker)
  if (!cm) throw new Error(`unsupported chunker '${chunker}': use size-N`)
  if (![0, 1].includes(cidVersion)) throw new Error(`unknown CID version ${cidVersion}`)
  return {
    cidVersion,
    rawLeaves,
    leafType: rawLeaves ? 'raw' : 'file',
    chunker: fixedSize({ chunkSize: Number(cm[1]) }),
    layout: balanced({ maxChildrenPerNode: 174 }),
    wrapWithDirectory: q.get('wrap-with-directory') === 'true',
    shardSplitThresholdBytes: 262144,
    reduceSingleLeafToSelf: true,
    pin: q.get('pin') !== 'false'
  }
}

async function add (req, res, q) {
  let opts, parts
  try {
    opts = addOptions(q)
    parts = parseMultipart(await readBody(req), req.headers['content-type'])
  } catch (err) {
    return rpcError(res, 400, err.message)
  }
  if (parts.length === 0) return rpcError(res, 400, 'no file was sent')
  const source = parts.map(p => p.type === 'application/x-directory'
    ? { path: p.name }
    : { path: p.name, content: p.content })
  const counting = {
    put: async (cid, bytes, o) => { stats.blocks_added++; return helia.blockstore.put(cid, bytes, o) },
    get: (cid, o) => helia.blockstore.get(cid, o),
    has: (cid, o) => helia.blockstore.has(cid, o)
  }
  const lines = []
  let root
  try {
    for await (const entry of importer(source, counting, opts)) {
      lines.push(JSON.stringify({ Name: entry.path, Hash: entry.cid.toString(), Size: String(entry.size) }))
      root = entry.cid
    }
    if (opts.pin && root) {
      for await (const _ of helia.pins.add(root)) { /* walks the DAG */ }
    }
  } catch (err) {
    if (err.name !== 'AlreadyPinnedError') return rpcError(res, 500, err.message)
  }
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'X-Chunked-Output': '1' })
  res.end(lines.join('\n') + '\n')
}

// kubo refuses what a browser sends from another origin (its API must not be callable by any web page)
function foreignOrigin (req) {
  let origin = req.headers.origin
  if (!origin && req.headers.referer) {
    try { origin = new URL(req.headers.referer).origin } catch { return req.headers.referer }
  }
  return origin && origin !== 'null' && !API_ORIGINS.includes(origin) ? origin : null
}

// a CARv1 file: its roots and blocks, each block checked against its CID's SHA-256
async function readCar (bytes) {
  let pos = 0
  const readVarint = () => {
    let n = 0; let shift = 0; let b
    do {
      if (pos >= bytes.length) throw new Error('truncated CAR file')
      b = bytes[pos++]; n += (b & 0x7f) * 2 ** shift; shift += 7
    } while (b & 0x80)
    return n
  }
  const headerLength = readVarint()
  const header = dagCbor.decode(bytes.subarray(pos, pos + headerLength))
  pos += headerLength
  if (header.version !== 1 || !Array.isArray(header.roots)) throw new Error('not a CARv1 file')
  const blocks = []
  while (pos < bytes.length) {
    const length = readVarint()
    if (pos + length > bytes.length) throw new Error('truncated CAR file')
    const [cid, rest] = CID.decodeFirst(bytes.subarray(pos, pos + length))
    pos += length
    if (cid.multihash.code === sha256.code) {
      const digest = await sha256.digest(rest)
      if (!Buffer.from(digest.bytes).equals(Buffer.from(cid.multihash.bytes))) throw new Error(`block ${cid} does not match its CID`)
    }
    blocks.push({ cid, bytes: rest })
  }
  return { roots: header.roots.map(r => CID.asCID(r) ?? CID.decode(r.bytes ?? r)), blocks }
}

async function dagImport (req, res, q) {
  let parts
  try {
    parts = parseMultipart(await readBody(req), req.headers['content-type'])
  } catch (err) {
    return rpcError(res, 400, err.message)
  }
  if (parts.length === 0) return rpcError(res, 400, 'no CAR file was sent')
  const lines = []
  try {
    for (const part of parts) {
      const { roots, blocks } = await readCar(part.content)
      for (const { cid, bytes } of blocks) {
        await helia.blockstore.put(cid, bytes)
        stats.blocks_added++
      }
      for (const root of roots) {
        let pinError = ''
        if (q.get('pin-roots') !== 'false') {
          try {
            for await (const _ of helia.pins.add(root, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })) { /* walk */ }
          } catch (err) {
            if (err.name !== 'AlreadyPinnedError') pinError = err.message
          }
        }
        lines.push(JSON.stringify({ Root: { Cid: { '/': root.toString() }, PinErrorMsg: pinError } }))
      }
    }
  } catch (err) {
    return rpcError(res, 400, `cannot import the CAR file: ${err.message}`)
  }
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', 'X-Chunked-Output': '1' })
  res.end(lines.join('\n') + '\n')
}

async function rpc (req, res, url) {
  stats.api_requests++
  const origin = foreignOrigin(req)
  if (origin) {
    res.writeHead(403, { 'Content-Type': 'text/plain' })
    return res.end(`403 - Forbidden: requests from ${origin} are not allowed (start the node with --allow-origin)\n`)
  }
  if (req.method !== 'POST') return rpcError(res, 405, `${req.method} is not allowed: the RPC API takes POST`)
  const q = url.searchParams
  switch (url.pathname.replace(/\/$/, '')) {
    case '/api/v0/add':
      return add(req, res, q)
    case '/api/v0/dag/import':
      return dagImport(req, res, q)
    case '/api/v0/id':
      return sendJson(res, 200, {
        ID: helia.libp2p.peerId.toString(),
        Addresses: helia.libp2p.getMultiaddrs().map(a => a.toString()),
        AgentVersion: 'labkit-sandbox-ipfs/helia',
        Protocols: helia.libp2p.getProtocols()
      })
    case '/api/v0/swarm/connect': {
      const targets = q.getAll('arg')
      if (targets.length === 0) return rpcError(res, 400, 'argument "address" is required')
      const out = []
      for (const t of targets) {
        try {
          const conn = await helia.libp2p.dial(multiaddr(t), { signal: AbortSignal.timeout(10000) })
          out.push(`connect ${conn.remotePeer.toString()} success`)
        } catch (err) {
          return rpcError(res, 500, `connect ${t} failure: ${err.message}`)
        }
      }
      return sendJson(res, 200, { Strings: out })
    }
    case '/api/v0/swarm/peers':
      return sendJson(res, 200, {
        Peers: helia.libp2p.getConnections().map(c => ({ Peer: c.remotePeer.toString(), Addr: c.remoteAddr.toString() }))
      })
    case '/api/v0/version':
      return sendJson(res, 200, { Version: '0.0.0-labkit', Commit: '', Repo: '', System: process.platform, Golang: '' })
    case '/api/v0/labkit/stats':
      return sendJson(res, 200, { ...stats, gateway_paths: servedPaths })
    default:
      return rpcError(res, 404, `unknown command ${url.pathname}`)
  }
}

// ------------------------------------------------------------------ gateway
function varint (n) {
  const out = []
  do {
    let b = n & 0x7f
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

function car (root, blocks) {
  const header = dagCbor.encode({ roots: [root], version: 1 })
  const parts = [varint(header.length), Buffer.from(header)]
  for (const { cid, bytes } of blocks) {
    parts.push(varint(cid.bytes.length + bytes.length), Buffer.from(cid.bytes), Buffer.from(bytes))
  }
  return Buffer.concat(parts)
}

// A map that forgets its least recently used entries beyond a total size (sizeOf of each value). What a CID
// names never changes, so the gateway keeps what it read and decoded: without this, reading a zarr chunk
// re-read every block along its path from disk and re-decoded every directory (all its links) on the way.
class LruCache {
  constructor (maxSize, sizeOf) { this.maxSize = maxSize; this.sizeOf = sizeOf; this.size = 0; this.map = new Map() }

  get (key) {
    const value = this.map.get(key)
    if (value !== undefined) { this.map.delete(key); this.map.set(key, value) } // now the most recent
    return value
  }

  set (key, value) {
    if (this.map.has(key)) return
    this.map.set(key, value)
    this.size += this.sizeOf(value)
    for (const [k, v] of this.map) { // oldest first
      if (this.size <= this.maxSize) break
      this.map.delete(k)
      this.size -= this.sizeOf(v)
    }
  }
}

const blockCache = new LruCache(64 * 2 ** 20, bytes => bytes.length)
const directoryCache = new LruCache(2 ** 17, links => links.size) // directory CID -> Map(name -> CID), by links

// a block's bytes (blockstores yield them in chunks)
async function getBlock (cid) {
  const key = cid.toString()
  let bytes = blockCache.get(key)
  if (bytes === undefined) {
    const chunks = []
    for await (const c of helia.blockstore.get(cid, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })) chunks.push(c)
    bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
    blockCache.set(key, bytes)
  }
  return bytes
}

// the blockstore as the exporter reads it, through the cache
const cachedBlocks = { get: async function * (cid) { yield await getBlock(cid) } }

function escapeHtml (text) {
  return String(text).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
}

// one "bytes=a-b", "bytes=a-" or "bytes=-n" range: [start, end], null without a Range header, 'invalid' otherwise
function byteRange (header, size) {
  if (!header) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid'
  let start, end
  if (m[1] === '') {
    start = Math.max(size - Number(m[2]), 0); end = size - 1
  } else {
    start = Number(m[1]); end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  }
  return start > end || start >= size ? 'invalid' : [start, end]
}

// a block that no peer gave in time: the signal's timeout, or helia's error after it
function notFoundInTime (err) {
  for (let e = err; e; e = e.cause) {
    if (['AbortError', 'TimeoutError', 'LoadBlockFailedError'].includes(e.name)) return true
  }
  return false
}

class HttpError extends Error {
  constructor (status, message) { super(message); this.status = status }
}

// walk /cid/a/b: every CID along the path and the blocks they name
async function resolve (segments) {
  let cid
  try {
    cid = CID.parse(segments[0])
  } catch {
    throw new HttpError(400, `invalid path "/ipfs/${segments.join('/')}": "${segments[0]}" is not a valid CID`)
  }
  const roots = [cid]
  const blocks = []
  for (let i = 0; ; i++) {
    const bytes = await getBlock(cid)
    blocks.push({ cid, bytes })
    if (i === segments.length - 1) break
    cid = directoryLinks(cid, bytes, segments.slice(0, i + 1).join('/')).get(segments[i + 1])
    if (!cid) throw new HttpError(404, `no link named "${segments[i + 1]}" under ${segments.slice(0, i + 1).join('/')}`)
    roots.push(cid)
  }
  return { roots, blocks }
}

// a UnixFS directory's links by name (decoded once per directory), or an HttpError if the block is no directory
function directoryLinks (cid, bytes, path) {
  let links = directoryCache.get(cid.toString())
  if (links !== undefined) return links
  if (cid.code !== DAG_PB) throw new HttpError(404, `${path} is not a directory`)
  const node = dagPb.decode(bytes)
  const fs = UnixFS.unmarshal(node.Data)
  if (fs.type === 'hamt-sharded-directory') throw new HttpError(501, 'HAMT-sharded directories are not served')
  if (fs.type !== 'directory') throw new HttpError(404, `${path} is not a directory`)
  links = new Map(node.Links.map(l => [l.Name, l.Hash]))
  directoryCache.set(cid.toString(), links)
  return links
}

async function gateway (req, res, url) {
  stats.gateway_requests++
  servedPaths.push(url.pathname)
  if (servedPaths.length > 1000) servedPaths.shift()
  console.log(`gateway ${req.method} ${url.pathname}${url.search}`)
  if (!['GET', 'HEAD'].includes(req.method)) return rpcError(res, 405, 'the gateway is read-only')
  const m = /^\/ipfs\/(.+?)\/?$/.exec(url.pathname)
  if (!m) return rpcError(res, 404, 'use /ipfs/{cid}/{path}')
  const segments = m[1].split('/').filter(s => s.length > 0).map(decodeURIComponent)
  const wantsCar = url.searchParams.get('format') === 'car' ||
    (req.headers.accept || '').includes('application/vnd.ipld.car')
  try {
    const { roots, blocks } = await resolve(segments)
    const headers = { 'X-Ipfs-Roots': roots.map(c => c.toString()).join(','), 'X-Ipfs-Path': '/ipfs/' + segments.join('/') }
    const terminal = roots[roots.length - 1]
    if (wantsCar) {
      stats.gateway_car_requests++
      const body = car(terminal, blocks)
      res.writeHead(200, { ...headers, 'Content-Type': 'application/vnd.ipld.car; version=1', 'Content-Length': body.length })
      return res.end(req.method === 'HEAD' ? undefined : body)
    }
    const entry = await exporter(terminal, cachedBlocks, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
    if (entry.type === 'directory') {
      const base = '/ipfs/' + segments.map(encodeURIComponent).join('/')
      const rows = []
      for await (const e of entry.entries()) {
        rows.push(`<li><a href="${base}/${encodeURIComponent(e.name)}">${escapeHtml(e.name)}</a> ${e.cid}</li>`)
      }
      const body = Buffer.from(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(base)}</title>` +
        `</head><body><h1>Index of ${escapeHtml(base)}</h1><ul>${rows.join('')}</ul></body></html>\n`)
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length })
      return res.end(req.method === 'HEAD' ? undefined : body)
    }
    const size = Number(entry.size)
    const range = byteRange(req.headers.range, size)
    if (range === 'invalid') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` })
      return res.end()
    }
    const [start, end] = range ?? [0, size - 1]
    res.writeHead(range ? 206 : 200, {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Accept-Ranges': 'bytes',
      'Content-Length': String(Math.max(end - start + 1, 0)),
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${size}` } : {})
    })
    if (req.method === 'HEAD' || end < start) return res.end()
    for await (const chunk of entry.content({ offset: start, length: end - start + 1, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })) {
      if (!res.write(chunk)) await new Promise(resolve => res.once('drain', resolve))
    }
    res.end()
  } catch (err) {
    const status = err.status ?? (notFoundInTime(err) ? 504 : 500)
    const message = status === 504
      ? `no block of ${url.pathname} was found within ${FETCH_TIMEOUT_MS / 1000} s (${err.message})`
      : err.message
    if (!res.headersSent) rpcError(res, status, message)
    else res.destroy(err)
  }
}

function serve (port, handler) {
  return new Promise((resolve, reject) => {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, `http://${HOST}`)
      handler(req, res, url).catch(err => { if (!res.headersSent) rpcError(res, 500, err.message) })
    })
    server.on('error', reject)
    server.listen(Number(port), HOST, () => resolve(server))
  })
}

const servers = [await serve(args['api-port'], rpc), await serve(args['gateway-port'], gateway)]
console.log(`ipfs node ${helia.libp2p.peerId} api http://${HOST}:${args['api-port']} gateway http://${HOST}:${args['gateway-port']}`)
console.log(`swarm ${helia.libp2p.getMultiaddrs().map(a => a.toString()).join(' ')}`)

async function shutdown () {
  for (const s of servers) s.close()
  await helia.stop()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
