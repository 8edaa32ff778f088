/** The part of ssh2-sftp-client 12 that sftp.ts uses (the package ships no types). */
declare module 'ssh2-sftp-client' {
  import type { Readable, Writable } from 'node:stream';

  export interface ConnectOptions {
    host: string;
    port?: number;
    username: string;
    privateKey?: string | Buffer;
    passphrase?: string;
    readyTimeout?: number;
    retries?: number;
    tryKeyboard?: boolean;
    hostVerifier?: (key: Buffer) => boolean;
    keepaliveInterval?: number;
    [option: string]: unknown;
  }

  export interface FileInfo {
    type: string;
    name: string;
    size: number;
    modifyTime: number;
  }

  export interface FileStats {
    size: number;
    isDirectory: boolean;
    isFile: boolean;
  }

  export default class SftpClient {
    constructor(name?: string, callbacks?: { error?: (err: Error) => void; end?: () => void; close?: () => void });
    connect(options: ConnectOptions): Promise<unknown>;
    stat(path: string): Promise<FileStats>;
    list(path: string): Promise<FileInfo[]>;
    mkdir(path: string, recursive?: boolean): Promise<string>;
    rmdir(path: string, recursive?: boolean): Promise<string>;
    delete(path: string, notFoundOK?: boolean): Promise<string>;
    rename(from: string, to: string): Promise<string>;
    posixRename(from: string, to: string): Promise<string>;
    createReadStream(path: string, options?: object): Readable;
    createWriteStream(path: string, options?: object): Writable;
    end(): Promise<boolean>;
  }
}
