/** The builder's log as `stemcell farm` reads it: each event once, late events of the other stream too, and the tail of a long log read from its end. */
import { CloudWatchLogsClient, DescribeLogStreamsCommand, FilterLogEventsCommand, GetLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mockClient } from 'aws-sdk-client-mock';
import { readLog, readLogTail } from '../../lib/farm/follow';
import { FakeClock } from '../helpers/fake-ec2';

const logs = mockClient(CloudWatchLogsClient);
const client = new CloudWatchLogsClient({ region: 'eu-west-1' });
const COMMAND = 'c0ffee00-0000-4000-8000-000000000001';
type Event = { eventId: string; logStreamName: string; timestamp: number; message: string };
let events: Event[];
const event = (id: string, stream: 'stdout' | 'stderr', timestamp: number): Event => ({ eventId: id, logStreamName: `${COMMAND}/i-0abc/Build/${stream}`, timestamp, message: `${id}\n` });

beforeEach(() => {
  logs.reset();
  events = [];
  logs.on(FilterLogEventsCommand).callsFake(async (input) => ({ events: events.filter((e) => e.logStreamName.startsWith(input.logStreamNamePrefix) && e.timestamp >= (input.startTime ?? 0)).sort((a, b) => a.timestamp - b.timestamp) }));
});
afterAll(() => logs.restore());

describe('readLog', () => {
  it('shows each event once, and a late event of the other stream that is older than the newest seen', async () => {
    const clock = new FakeClock();
    events.push(event('a', 'stdout', 1000), event('b', 'stdout', 200_000));
    const first = await readLog(client, 'group', COMMAND, undefined, clock);
    expect(first.lines).toEqual(['a', 'b']);
    // stderr's event at 150 s arrives after stdout's at 200 s was read.
    events.push(event('late', 'stderr', 150_000), event('c', 'stdout', 250_000));
    const second = await readLog(client, 'group', COMMAND, first.cursor, clock);
    expect(second.lines).toEqual(['late', 'c']);
    expect((await readLog(client, 'group', COMMAND, second.cursor, clock)).lines).toEqual([]);
  });

  it('reads a long log whole, page by page', async () => {
    for (let i = 0; i < 30_000; i++) events.push(event(`line${i}`, 'stdout', i));
    logs.on(FilterLogEventsCommand).callsFake(async (input) => {
      const from = input.nextToken ? Number(input.nextToken) : 0;
      return { events: events.slice(from, from + 1000), nextToken: from + 1000 < events.length ? String(from + 1000) : undefined };
    });
    const { lines } = await readLog(client, 'group', COMMAND, undefined, new FakeClock());
    expect(lines).toHaveLength(30_000);
    expect(lines.at(-1)).toBe('line29999');
  });
});

describe('readLogTail', () => {
  it("reads the end of each stream, not the whole log, and merges them in time", async () => {
    logs.on(DescribeLogStreamsCommand).resolves({ logStreams: [{ logStreamName: `${COMMAND}/i-0abc/Build/stdout` }, { logStreamName: `${COMMAND}/i-0abc/Build/stderr` }] });
    logs.on(GetLogEventsCommand).callsFake(async (input) => {
      const all = Array.from({ length: 30_000 }, (_, i) => ({ timestamp: i * 2 + (input.logStreamName!.endsWith('stderr') ? 1 : 0), message: `${input.logStreamName!.endsWith('stderr') ? 'err' : 'out'} ${i}\n` }));
      expect(input.startFromHead).toBe(false);
      return { events: all.slice(-(input.limit ?? 10_000)) };
    });
    expect(await readLogTail(client, 'group', COMMAND, 3, new FakeClock())).toEqual(['err 29998', 'out 29999', 'err 29999']);
  });
});
