import { FAULT_KINDS } from './faults.js';
import { REAL_IMAGE } from './image-set.js';
import { IMAGE_KINDS } from './images.js';
import { LINKS } from './links.js';
import { LIVE_POLICIES, LIVE_WORKLOADS } from './live-cases.js';
import { WS_SIZES } from './working-set.js';

/** The bench CLI's help text (`npm run bench -- --help`). */
export const USAGE = `usage: npm run bench -- NAME [--json] [options]

benchmarks:
  baseline    loopback TCP between two processes, no processing: the physical limit (GB/s)
  stop-copy   paused-guest migration of generated images against the baseline on the same bytes
  encode      per-encoding throughput on one core: zero check, zero, same-byte, lz4, raw, delta; decode
  tracking    guest ops/s with dirty logging (and a harvester) against without, per workload
  access      guest ops/s with the accessed bitmap against without, in pairs of adjacent windows, per workload
  barrier     guest ops/s with the post-copy access barrier on against without, per workload
  prepaging   post-copy push orders (bubble, forward, linear) on a real guest over a SIMULATED wire: faults
  postcopy    post-copy (each push order) and hybrid through the real agents: downtime, faults, blocktime
  live        live migration of a running guest between two agents, per workload and switchover policy
  links       per link (loopback; 10gbit, 1gbit, 100mbit between network namespaces): the raw push and a
              migration per --compress mode, time and wire bytes (needs root)
  first-touch filling fresh SharedArrayBuffer memory against pre-touched memory and a pre-faulting worker
  confirm     what Confirm adds to the downtime: the destination's wait for it, against a loopback round trip
  working-set plain pre-copy against Zaw and Thein's working-set framework over a tbf-shaped netns link (root)
  soft-pages  SonicMigration's experiment: a fileserver guest with a full page cache, user-land memory varied,
              default pre-copy against --soft-pages and --balloon (pages, time, agents' CPU, throughput after)
  soft-pages-after  the cost of the dropped cache: a migrated fileserver guest's throughput against the same
              guest never migrated, in alternating windows over the same ops (default against --soft-pages)
  tls-setup   a migration's set-up plain against TLS (alternating), and a fresh process's first connection of
              each kind against later ones: what a TLS warm-up would save
  fuzz        generated and mutated frames through the decoder in-process and a live destination's main port
              and data ports, plain and inside TLS: no crash, no hang, typed errors only, RSS bounded
  faults      the fault campaign: --runs migrations of a running guest with --ops, one seeded fault each (kill -9,
              cut, stall, flipped byte, dropped Committed, restart of the destination): where the guest ended,
              its digest against the oracle's, the destination's threads, fds and RSS back to idle

options:
  --json               print one JSON object instead of a table
  --out FILE           also write the JSON object to FILE
  --charts DIR         also draw the results as PNG figures (and one HTML page) in DIR, with headless
                       Chromium (/usr/bin/chromium, or CHROMIUM_PATH)
  --size SIZE          image size (default 1GiB; encode: 256MiB per case; tracking: guest memory, 256MiB)
  --reps N             repetitions, medians reported (default 5; live: 3; access: 12 pairs each)
  --seconds S          tracking, barrier: measured seconds per run (default 1)
  --images LIST        baseline, stop-copy, links: comma-separated of ${IMAGE_KINDS.join(',')},${REAL_IMAGE}
                       (default: stop-copy all but real, baseline random, links mixed; "" for none);
                       real: memory of running programs dumped with gcore (needs gdb)
  --image-file PATH    baseline, stop-copy: also use this image file
  --streams N          stop-copy: passed to source-agent --streams
  --delta-cache SIZE   stop-copy: passed to source-agent --delta-cache
  --compress MODE      stop-copy: passed to source-agent --compress (default: the agent's, auto)
  --tls                stop-copy: also migrate each image over TLS (PSK), alternating with plain in each rep
  --links LIST         links: comma-separated of ${LINKS.map((l) => l.name).join(',')} (default all)
  --links-base DIR     links: also migrate with --compress auto by the agents of the (built) checkout at DIR: before/after
  --dest-memory LIST   stop-copy: fresh,prefault: migrate into fresh destination memory and/or into memory the
                       destination faulted in before (dest-agent --prefault), alternating (default fresh)
  --dest-reads LIST    stop-copy: owned,frames,chunks: the destination reads plain TCP into its frame decoder's
                       buffers with raw page runs into guest memory, into the decoder's buffers only
                       (LIVEMIG_DEST_READS=frames), and/or through 'data' chunks (=chunks), alternating
                       (default owned)
  --direct-pages LIST  stop-copy: on,off: raw pages written from guest memory (PageBatchDirect) and/or copied
                       into frames (source-agent --no-direct-pages), alternating (default on)
  --guest image|idle   stop-copy: migrate the image (--image-file --paused, the default) or an idle guest of
                       the same size (--memory --workload idle, for agents without image support)
  --connections LIST   baseline, stop-copy: numbers of connections the raw push tries (default 1,2,4); the fastest is the limit
  --timeout SECONDS    stop-copy, baseline, live: kill a child process after this long (default 600)
  --workloads LIST     barrier: comma-separated of uniform,hotcold,stream,incr (default all)
                       live: comma-separated of ${LIVE_WORKLOADS.map((w) => w.name).join(',')}
                       (or a family: uniform); default all
  --policies LIST      live: comma-separated of ${LIVE_POLICIES.join(',')} (default all)
  --downtime-limit T   live: passed to source-agent --downtime-limit (default: the agent's own, 300ms)
  --pings N            confirm: round trips timed per repetition (default 200)
  --rate RATE          working-set: the link's rate each way (default 5.625MB/s, the paper's Table 1)
  --sizes LIST         working-set: comma-separated working-set sizes in pages, 0 = plain pre-copy
                       (default ${WS_SIZES.join(',')}); --size is the guest (default 128MiB), --reps default 3
  --dirty-rate RATE    working-set: the hotcold guest's writes per second (default 2MiB, the paper's 512 pages/s)
  --hot-bytes SIZE     working-set: its hot set (default 4MiB)
  --max-rounds N       working-set: passed to source-agent --max-rounds (default 30)
  --ws-preprocess T    working-set: passed to source-agent --ws-preprocess (default 1s)
  --bandwidth RATE     prepaging: the simulated wire's rate (default 100MB/s)
  --workload NAME      prepaging: the guest's workload (default hotcold)
  --inputs N           fuzz: inputs in all (default 100000: half in-process, a quarter per live destination)
  --seed N             fuzz: fast-check's seed (default: a random one, printed and in the JSON);
                       faults: the campaign's seed (default: from the clock, printed)
  --runs N             faults: migrations (default 100)
  --kinds LIST         faults: comma-separated of ${FAULT_KINDS.join(',')} (default all)
  --stall RANGE        faults: a stall's length in ms, LOW-HIGH (default 5000-70000)
  --anon LIST          soft-pages: user-land sizes, comma-separated (default 64MiB,512MiB,900MiB of a 1GiB guest,
                       scaled with --size); the cache and the disk are 3/4 of --size (default 1GiB)
                       soft-pages-after: one size (default 1/16 of --size, which defaults to 256MiB there)
`;
