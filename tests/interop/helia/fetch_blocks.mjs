// A Helia node (js IPFS) that dials one peer and fetches blocks from it over Bitswap.
//
// Usage: node fetch_blocks.mjs <peer multiaddr> <cid>:<timeout ms>...
// Prints one JSON line per CID, in order: {"cid", "ok": true, "ms", "data": <base64>} or
// {"cid", "ok": false, "error"}, then {"done": true, "peer": <Helia's peer id>,
// "protocols": <the peer's protocols, from identify>}. Exits non-zero only when the peer
// cannot be dialled. Used by tests/integration/net/test_bitswap_ipfs.py.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import * as dagCbor from '@ipld/dag-cbor'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

const [addr, ...wanted] = process.argv.slice(2)
const DIAL_TIMEOUT_MS = 30_000

// No routers: the only source of blocks is the peer dialled below (no DHT, no HTTP gateways).
const helia = withBitswap(
  withLibp2pLight(createHeliaLight({ codecs: [dagCbor], routers: [] }), {
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
)
await helia.start()

let status = 0
try {
  const connection = await helia.libp2p.dial(multiaddr(addr), {
    signal: AbortSignal.timeout(DIAL_TIMEOUT_MS)
  })
  // identify runs right after the connection; wait a moment for the peer's protocols.
  let protocols = []
  for (let i = 0; i < 50 && protocols.length === 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    try {
      protocols = (await helia.libp2p.peerStore.get(connection.remotePeer)).protocols
    } catch {}
  }
  for (const item of wanted) {
    const [text, ms] = item.split(':')
    const timeout = Number(ms)
    const started = performance.now()
    try {
      const chunks = []
      const signal = AbortSignal.timeout(timeout)
      for await (const chunk of helia.blockstore.get(CID.parse(text), { signal })) {
        chunks.push(chunk)
      }
      const data = Buffer.concat(chunks)
      const elapsed = Math.round(performance.now() - started)
      console.log(JSON.stringify({ cid: text, ok: true, ms: elapsed, data: data.toString('base64') }))
    } catch (err) {
      console.log(JSON.stringify({ cid: text, ok: false, error: `${err.name}: ${err.message}` }))
    }
  }
  console.log(JSON.stringify({ done: true, peer: helia.libp2p.peerId.toString(), remote: connection.remotePeer.toString(), protocols }))
} catch (err) {
  console.error(`cannot dial ${addr}: ${err.name}: ${err.message}`)
  status = 2
} finally {
  await helia.stop()
}
process.exit(status)
