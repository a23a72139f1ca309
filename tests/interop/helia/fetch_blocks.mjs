// A Helia node (js IPFS) that dials one peer and fetches blocks from it over Bitswap.
//
// Usage: node fetch_blocks.mjs <peer multiaddr> <timeout ms> <cid>...
// Prints one JSON line per CID, in order: {"cid", "ok": true, "data": <base64>} or
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

const [addr, timeoutText, ...cids] = process.argv.slice(2)
const timeout = Number(timeoutText)

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
  const target = multiaddr(addr)
  await helia.libp2p.dial(target, { signal: AbortSignal.timeout(timeout) })
  // identify runs right after the connection; give it a moment so the peer's protocols show.
  const peerId = target.getComponents().find(c => c.name === 'p2p').value
  let protocols = []
  for (let i = 0; i < 50 && protocols.length === 0; i++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    try {
      protocols = (await helia.libp2p.peerStore.get(helia.libp2p.getConnections()[0].remotePeer)).protocols
    } catch {}
  }
  for (const text of cids) {
    try {
      const chunks = []
      for await (const chunk of helia.blockstore.get(CID.parse(text), { signal: AbortSignal.timeout(timeout) })) {
        chunks.push(chunk)
      }
      const data = Buffer.concat(chunks)
      console.log(JSON.stringify({ cid: text, ok: true, data: data.toString('base64') }))
    } catch (err) {
      console.log(JSON.stringify({ cid: text, ok: false, error: `${err.name}: ${err.message}` }))
    }
  }
  console.log(JSON.stringify({ done: true, peer: helia.libp2p.peerId.toString(), remote: peerId, protocols }))
} catch (err) {
  console.error(`cannot dial ${addr}: ${err.name}: ${err.message}`)
  status = 2
} finally {
  await helia.stop()
}
process.exit(status)
