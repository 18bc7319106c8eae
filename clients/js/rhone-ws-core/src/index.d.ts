// Types of rhone-ws-core (the code is JavaScript with JSDoc; these declare its public surface).

export declare const SUBPROTOCOL: "rhone.ws.v1";
export declare const KEY_SUBPROTOCOL_PREFIX: "rhone.key.";
export declare const SURFACES: readonly [
  "openai.chat",
  "openai.responses",
  "anthropic.messages",
  "gemini.generate_content",
  "vertex.generate_content",
  "rhone.canonical",
];
export type Surface = (typeof SURFACES)[number];

/** What we use of a WebSocket: the browser API, which `ws` also has. */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol?: string;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: any) => void, options?: object): void;
  removeEventListener(type: string, listener: (event: any) => void): void;
}
/** `ws`'s WebSocket, a browser's, or anything with the browser API. */
export type WebSocketConstructor = new (
  url: string,
  protocols?: string[],
  options?: any,
) => WebSocketLike;
/** auto: the `rhone.key.<key>` subprotocol for the global WebSocket, the Authorization header otherwise. */
export type AuthMode = "auto" | "header" | "subprotocol";

export declare function rhoneRoot(url: string | URL): string;
export declare function withV1(url: string | URL): string;
export declare function socketURL(root: string | URL): string;
export declare function authMode(
  WebSocketImpl: WebSocketConstructor,
  requested?: AuthMode,
): "header" | "subprotocol";

export interface ErrorHooks {
  callError(frame: { code: string; status: number; error: unknown }): Error;
  frameError(frame: { code: string; message: string }): Error;
  httpError(status: number, body: unknown, headers: Headers): Error;
  connectionError(message: string, cause?: unknown): Error;
}
export interface ErrorStyle {
  body(code: string, message: string, status: number): unknown;
  fromUpgrade(body: unknown, status: number): unknown;
}
export interface SdkErrorClasses {
  APIError: {
    generate(
      status: number | undefined,
      body: any,
      message: string | undefined,
      headers: Headers | undefined,
    ): Error;
  };
  APIConnectionError: new (options: { message?: string; cause?: Error }) => Error;
}
export declare const OPENAI_STYLE: ErrorStyle;
export declare const ANTHROPIC_STYLE: ErrorStyle;
export declare const FRAME_ERROR_STATUS: Readonly<Record<string, number>>;
export declare function frameErrorStatus(code: string): number;
export declare function sdkErrorHooks(sdk: SdkErrorClasses, style: ErrorStyle): ErrorHooks;
export declare const PLAIN_ERROR_HOOKS: ErrorHooks;
export declare class RhoneWsError extends Error {
  constructor(message: string, frame: Record<string, any>, cause?: unknown);
  frame: Record<string, any>;
  code: string | undefined;
  status: number | undefined;
}

export interface OpenOptions {
  /** Rhone's root URL (no `/v1`). */
  baseURL: string;
  apiKey: string;
  /** Defaults to the global WebSocket. */
  WebSocket?: WebSocketConstructor;
  auth?: AuthMode;
  /** More upgrade headers (header auth only). */
  headers?: Record<string, string>;
  /** Gives up on the upgrade. */
  signal?: AbortSignal;
  errors: ErrorHooks;
}
export declare function openSocket(options: OpenOptions): Promise<WebSocketLike>;

/**
 * The events of one call, as the server sent them. Ends after call.done (`sessionId` set) or
 * call.cancelled (`cancelled` true); throws the SDK's error after call.error.
 */
export declare class CallStream<Event = any> implements AsyncIterable<Event> {
  readonly callId: string;
  /** The session the call ran on, once it has ended well. */
  sessionId: string | null;
  /** True once the server confirmed the cancel (nothing of the turn was recorded). */
  cancelled: boolean;
  /** True once the call has ended, however it ended. */
  finished: boolean;
  /** Aborting it cancels the call (as the SDK's `Stream.controller`). */
  readonly controller: AbortController;
  /** Cancels the call; the iteration ends once the server confirms. */
  cancel(): void;
  [Symbol.asyncIterator](): AsyncIterator<Event>;
}

/** A run's frame (docs/rhone-ws-v1.md, "Runs"); `run.event` carries one `Event` of the surface. */
export type RunFrame<Event = any> =
  | { type: "run.created"; run_id: string; seq: number; session_id: string; surface: Surface; shape: Surface; max_steps: number }
  | { type: "run.step"; run_id: string; seq: number; step: number }
  | { type: "run.event"; run_id: string; seq: number; step: number; event: Event }
  | {
      type: "run.requires_action";
      run_id: string;
      seq: number;
      step: number;
      tool_calls: ToolCall[];
      expires_at_ms: number;
    }
  | { type: "run.completed"; run_id: string; seq: number; steps: number; session_id: string }
  | { type: "run.failed"; run_id: string; seq: number; code: string; status: number; error: unknown }
  | { type: "run.cancelled"; run_id: string; seq: number };
/** A tool call a run waits for; `arguments` is JSON text. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}
export interface ToolOutput {
  tool_call_id: string;
  output: unknown;
}

/**
 * The frames of one run, in order, until run.completed / run.failed / run.cancelled. A refused
 * run frame throws from `next()` (iterating again goes on); a lost socket throws (the run goes
 * on at the server: `attach()` with `lastSeq` on a new connection).
 */
export declare class RunStream<Event = any> implements AsyncIterableIterator<RunFrame<Event>> {
  readonly runId: string;
  /** The sequence number of the last frame read. */
  lastSeq: number;
  status: "" | "running" | "requires_action" | "completed" | "failed" | "cancelled";
  sessionId: string | null;
  pendingToolCalls: ToolCall[];
  /** The SDK's error for run.failed. */
  error: Error | null;
  finished: boolean;
  submitToolOutputs(toolOutputs: ToolOutput[]): void;
  cancel(): void;
  next(): Promise<IteratorResult<RunFrame<Event>, undefined>>;
  return(): Promise<IteratorResult<RunFrame<Event>, undefined>>;
  [Symbol.asyncIterator](): RunStream<Event>;
}
export interface RunCreateOptions {
  /** Defaults to a random `run_...`. */
  runId?: string;
  /** The most model calls the run may make (server default: 10). */
  maxSteps?: number;
}
export interface Runs<Params = object, Event = any> {
  create(params: Params, options?: RunCreateOptions): RunStream<Event>;
  /** Follows a run from the frame after `after` (default 0: all of it). */
  attach(runId: string, options?: { after?: number }): RunStream<Event>;
}

export interface CreateOptions {
  /** Aborting it cancels the call. */
  signal?: AbortSignal;
  /** Defaults to `call-<n>`; unique among the calls in flight, at most 128 chars. */
  callId?: string;
  /** Which events to yield (default: all). */
  acceptEvent?: (event: any) => boolean;
}

export declare class RhoneConnection {
  static open(
    options: Omit<OpenOptions, "errors"> & { errors?: ErrorHooks },
  ): Promise<RhoneConnection>;
  constructor(socket: WebSocketLike, errors?: ErrorHooks);
  readonly socket: WebSocketLike;
  errors: ErrorHooks;
  /** The session the socket is bound to (null: not bound yet). */
  sessionId: string | null;
  /** Set once the socket has closed. */
  closed: { code: number; reason: string } | null;
  readonly callsInFlight: number;
  bindSession(sessionId?: string | null): Promise<string>;
  create<Event = any>(surface: Surface, body: object, options?: CreateOptions): CallStream<Event>;
  /** Runs on any surface but rhone.canonical: `runs.create(surface, body, options)`. */
  readonly runs: {
    create<Event = any>(surface: Surface, body: object, options?: RunCreateOptions): RunStream<Event>;
    attach<Event = any>(runId: string, options?: { after?: number }): RunStream<Event>;
  };
  ping(data?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export interface SurfaceSpec {
  surface: Surface;
  acceptEvent: (event: any) => boolean;
  errors: ErrorHooks;
}
export interface ClientSettings {
  baseURL: string;
  apiKey: string | null | undefined | (() => string | Promise<string>);
  WebSocket?: WebSocketConstructor;
  auth?: AuthMode;
}
/** What a wrapper's constructor takes besides the SDK's own options. */
export interface WrapperOptions {
  /** A WebSocket constructor: `ws`'s (`import WebSocket from "ws"`) or a browser's. Defaults to the global one. */
  webSocket?: WebSocketConstructor;
  /** How the key travels (default auto: a header with `ws`, a subprotocol with the global WebSocket). */
  webSocketAuth?: AuthMode;
}
export interface ConnectOptions {
  /** When given (null: a new session), bind at once. */
  session_id?: string | null;
  /** More upgrade headers (header auth only). */
  headers?: Record<string, string>;
  /** Gives up on the upgrade. */
  signal?: AbortSignal;
}
export interface SdkCreateOptions {
  /** Aborting it cancels the call. */
  signal?: AbortSignal;
  /** Defaults to `call-<n>`. */
  callId?: string;
}

/** The connection `client.<resource>.connect()` resolves to: calls of one surface on one socket. */
export declare class SdkConnection<Params, Event> {
  constructor(connection: RhoneConnection, spec: SurfaceSpec);
  /** The protocol connection underneath (other surfaces, ping). */
  readonly connection: RhoneConnection;
  /** The bound session's id (null: not bound). */
  readonly sessionId: string | null;
  /** `{session_id}` continues a session; null/undefined creates one. Resolves to its id. */
  bindSession(
    params?: { session_id?: string | null; sessionId?: string | null } | string | null,
  ): Promise<string>;
  /** Yields exactly the objects the SDK's HTTP stream yields for the same request. */
  create(params: Params, options?: SdkCreateOptions): CallStream<Event>;
  /** Runs in the SDK's shape: `run.event` frames carry the SDK's own stream events. */
  readonly runs: Runs<Params, Event>;
  ping(data?: unknown): Promise<unknown>;
  /** Closes the socket; calls in flight end as cancelled. */
  close(): Promise<void>;
}

export declare function connectSdk<Params, Event>(
  settings: ClientSettings,
  spec: SurfaceSpec,
  options?: ConnectOptions,
): Promise<SdkConnection<Params, Event>>;
export declare function attachConnect<Resource extends object>(
  resource: Resource,
  connect: (options?: ConnectOptions) => Promise<SdkConnection<any, any>>,
): Resource;
export declare function addConnect<Resource extends object>(
  client: { baseURL: string; apiKey?: string | null; authToken?: string | null },
  resource: Resource,
  options: WrapperOptions & { apiKey?: unknown },
  spec: SurfaceSpec,
): Resource;
