// Public API of @rangekv/runtime: what every server process shares.
export { createLogger, silentLogger, LOG_LEVELS, type Logger, type LoggerOptions, type LogLevel } from './logger.js';
export { emitEvent, exitOnStopSignals, peersCommand, readAdminStdin, readPeersFromStdin, type AdminCommand } from './process-main.js';
export { hostPort, isWildcardHost, parseAddress, parseHost } from './address.js';
export { FlagError } from './flag-error.js';
export {
  address, bool, custom, int, intValue, list, oneOf, port, str,
  type Flag, type FlagKind, type FlagOptions, type IntOptions, type PortOptions, type StrOptions, type OneOfOptions, type AddressOptions,
  type ListOptions, type CustomOptions,
} from './flag-kinds.js';
export {
  parseFlags, withDefaults, flagsToArgv, flagName, envName, ENV_PREFIX,
  type FlagSpecs, type FlagValues, type FlagSource, type GivenFlag, type ParsedFlags, type FlagsResult, type FlagSources,
} from './flags.js';
export { flagUsage, flagRows, CONFIG_FLAG_HELP, SOURCES_HELP, type FlagRow } from './flag-usage.js';
export {
  CertificateSource, TlsConfigError, serverCredentials, statusHttpServer, channelCredentials, peerIdentity, parseIdentityUri, identityOfAltNames,
  describeIdentity, type TlsFiles, type Identity, type IdentityRole, type ServerTlsOptions, type ChannelTlsOptions,
} from './tls.js';
export { AccessPolicy, OPEN_ACCESS, adminTokenMetadata, readAdminToken, type AccessOptions, type Need, type Denial, type CallerView } from './access.js';
export { TLS_FLAGS, installSecurity, securityFrom, type TlsFlagValues, type Security } from './tls-flags.js';
export {
  MallocTrimmer, mallocTrimAddon, MALLOC_TRIM_ADDON_PATH, DEFAULT_MALLOC_TRIM_INTERVAL_MS, DEFAULT_MALLOC_TRIM_IDLE_INTERVAL_MS, MIN_MALLOC_TRIM_INTERVAL_MS, MAX_MALLOC_TRIM_INTERVAL_MS,
  DEFAULT_RECLAIM_GROWTH_BYTES, MIN_RECLAIM_GROWTH_BYTES, MAX_RECLAIM_GROWTH_BYTES, processMemoryFigures,
  type MallocTrimAddon, type MallocTrimmerOptions, type ReclaimOptions, type ReclaimReport, type MemoryFigures,
} from './malloc-trim.js';
export { STORE_NODE_FLAGS, STORE_GLIBC_TUNABLES, storeNodeFlags, storeProcessEnv } from './store-process-settings.js';
