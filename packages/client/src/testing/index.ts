// Test helpers of @rangekv/client: a fake cluster (fake stores + fake PD nodes) in one process.
export { FakeCluster, type FakeRange, type Fault, type FaultHook, type StoreCall, type FakePdOptions } from './fake-cluster.js';
