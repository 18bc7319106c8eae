// Types of vai-openai-responses: the `openai` client with `responses.connect()`.
import BaseOpenAI, { type ClientOptions as BaseClientOptions } from "openai";
import type {
  ResponseCreateParams,
  ResponseStreamEvent,
} from "openai/resources/responses/responses";
import type { ConnectOptions, SdkConnection, WrapperOptions } from "rhone-ws-core";

export type {
  CallStream,
  ConnectOptions,
  RunCreateOptions,
  RunFrame,
  RunStream,
  SdkCreateOptions,
  ToolOutput,
  WrapperOptions,
} from "rhone-ws-core";

export interface ClientOptions extends BaseClientOptions, WrapperOptions {}

/** Responses over one socket: `create()` yields the SDK's own `ResponseStreamEvent`s. */
export type ResponsesConnection = SdkConnection<ResponseCreateParams, ResponseStreamEvent>;

export declare class OpenAI extends BaseOpenAI {
  /** `baseURL` is Rhone's root, without `/v1` (the client adds it). */
  constructor(options?: ClientOptions);
  responses: BaseOpenAI["responses"] & {
    /** Opens a rhone.ws.v1 socket for Responses calls. */
    connect(options?: ConnectOptions): Promise<ResponsesConnection>;
  };
}

export default OpenAI;
