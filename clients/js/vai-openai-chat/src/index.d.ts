// Types of vai-openai-chat: the `openai` client with `chat.completions.connect()`.
import BaseOpenAI, { type ClientOptions as BaseClientOptions } from "openai";
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParams,
} from "openai/resources/chat/completions";
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

/** Chat Completions over one socket: `create()` yields the SDK's own `ChatCompletionChunk`s. */
export type ChatConnection = SdkConnection<ChatCompletionCreateParams, ChatCompletionChunk>;

export declare class OpenAI extends BaseOpenAI {
  /** `baseURL` is Rhone's root, without `/v1` (the client adds it). */
  constructor(options?: ClientOptions);
  chat: BaseOpenAI["chat"] & {
    completions: BaseOpenAI["chat"]["completions"] & {
      /** Opens a rhone.ws.v1 socket for Chat Completions calls. */
      connect(options?: ConnectOptions): Promise<ChatConnection>;
    };
  };
}

export default OpenAI;
