// Types of vai-anthropic: the `@anthropic-ai/sdk` client with `messages.connect()`.
import BaseAnthropic, { type ClientOptions as BaseClientOptions } from "@anthropic-ai/sdk";
import type {
  MessageCreateParams,
  RawMessageStreamEvent,
} from "@anthropic-ai/sdk/resources/messages";
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

/** Messages over one socket: `create()` yields the SDK's own `RawMessageStreamEvent`s. */
export type MessagesConnection = SdkConnection<MessageCreateParams, RawMessageStreamEvent>;

export declare class Anthropic extends BaseAnthropic {
  /** `baseURL` is Rhone's root, without `/v1` (the SDK's paths carry it). */
  constructor(options?: ClientOptions);
  messages: BaseAnthropic["messages"] & {
    /** Opens a rhone.ws.v1 socket for Messages calls. */
    connect(options?: ConnectOptions): Promise<MessagesConnection>;
  };
}

export default Anthropic;
