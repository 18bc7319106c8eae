// rhone-ws-core: the rhone.ws.v1 protocol client the vai-* wrappers share (docs/rhone-ws-v1.md).

export { CallStream } from "./call-stream.js";
export { RhoneConnection, SURFACES } from "./connection.js";
export { RunStream } from "./run-stream.js";
export {
  ANTHROPIC_STYLE,
  FRAME_ERROR_STATUS,
  OPENAI_STYLE,
  PLAIN_ERROR_HOOKS,
  RhoneWsError,
  frameErrorStatus,
  sdkErrorHooks,
} from "./errors.js";
export { SdkConnection, addConnect, attachConnect, connectSdk } from "./sdk.js";
export {
  KEY_SUBPROTOCOL_PREFIX,
  SUBPROTOCOL,
  authMode,
  openSocket,
  rhoneRoot,
  socketURL,
  withV1,
} from "./socket-open.js";
