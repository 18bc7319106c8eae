// Types of rhone-ws-core/testing.

export declare class FakeSocket extends EventTarget {
  static instances: FakeSocket[];
  constructor(url: string, protocols?: string[], options?: object);
  url: string;
  protocols: string[] | undefined;
  options: any;
  /** Frames the client sent, parsed. */
  sent: any[];
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  /** The server sends a frame. */
  receive(frame: object): void;
  /** The last frame the client sent of a type. */
  last(type: string): any;
}
export declare class RefusingSocket extends FakeSocket {}
export declare function until(predicate: () => unknown, what?: string): Promise<void>;
export declare const said: (last: string, turn: number, first: string) => string;
export declare function sessionSuite(wrapper: {
  test: typeof import("node:test").test;
  skip: false | string;
  withConnection: (use: (connection: any) => Promise<void>) => Promise<void>;
  request: (text: string) => object;
  textOf: (stream: AsyncIterable<any>) => Promise<string>;
}): void;
export declare function runSuite(wrapper: {
  test: typeof import("node:test").test;
  skip: false | string;
  connect: () => Promise<any>;
  requestWithTool: (text: string) => object;
  textOf: (stream: AsyncIterable<any>) => Promise<string>;
}): void;
