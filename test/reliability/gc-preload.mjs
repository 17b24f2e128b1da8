// Test-only instrumentation for the load suite, loaded into the server with
// NODE_OPTIONS=--import: on SIGUSR2, run a full garbage collection and print the heap figures,
// so memory can be compared before and after load without counting garbage not yet collected.
// `objects` is the heap without compiled code (code_space, code_large_object_space): the JIT
// keeps optimising hot functions for a long while, which is growth but not a leak.
import v8 from 'node:v8';
import vm from 'node:vm';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc');
process.on('SIGUSR2', () => {
  gc();
  gc();
  const m = process.memoryUsage();
  const objects = v8
    .getHeapSpaceStatistics()
    .filter((s) => !s.space_name.startsWith('code_'))
    .reduce((a, s) => a + s.space_used_size, 0);
  process.stderr.write(
    `[gc-preload] heapUsed=${m.heapUsed} rss=${m.rss} external=${m.external} objects=${objects}\n`,
  );
});
