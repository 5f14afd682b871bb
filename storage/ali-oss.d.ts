// Minimal types for the part of ali-oss 6.x that storage/oss-store.ts uses (the package ships none
// for Node). Shapes checked against node_modules/ali-oss/lib (object.js, managed-upload.js,
// common/multipart.js, common/client/initOptions.js).
declare module 'ali-oss' {
  import type { Readable } from 'node:stream';

  namespace OSS {
    interface Options {
      accessKeyId: string;
      accessKeySecret: string;
      stsToken?: string;
      refreshSTSToken?: () => Promise<{ accessKeyId: string; accessKeySecret: string; stsToken: string }>;
      refreshSTSTokenInterval?: number;
      bucket?: string;
      endpoint?: string;
      region?: string;
      internal?: boolean;
      secure?: boolean;
      timeout?: number;
      cname?: boolean;
      sldEnable?: boolean;
      retryMax?: number;
      authorizationV4?: boolean;
      maxSockets?: number;
    }
    interface ResponseInfo {
      status: number;
      headers: Record<string, string | undefined>;
      size?: number;
      rt?: number;
    }
    interface RequestOptions {
      timeout?: number;
      headers?: Record<string, string>;
      mime?: string;
      contentLength?: number;
    }
    interface ListV2Object {
      name: string;
      lastModified: string;
      etag: string;
      type: string;
      size: number;
    }
    interface ListV2Result {
      objects: ListV2Object[];
      prefixes: string[] | null;
      isTruncated: boolean;
      nextContinuationToken: string | null;
      res: ResponseInfo;
    }
    interface Checkpoint {
      file: string;
      name: string;
      fileSize: number;
      partSize: number;
      uploadId: string;
      doneParts: { number: number; etag: string }[];
    }
    interface MultipartOptions extends RequestOptions {
      partSize?: number;
      parallel?: number;
      checkpoint?: Checkpoint;
      progress?: (p: number, checkpoint: Checkpoint | null | undefined, res?: ResponseInfo) => unknown;
    }
  }

  class OSS {
    constructor(options: OSS.Options);
    options: { accessKeyId: string; accessKeySecret: string; stsToken?: string; amendTimeSkewed?: number };
    put(name: string, file: Buffer | string | Readable, options?: OSS.RequestOptions): Promise<{ name: string; res: OSS.ResponseInfo }>;
    putStream(name: string, stream: Readable, options?: OSS.RequestOptions): Promise<{ name: string; res: OSS.ResponseInfo }>;
    getStream(name: string, options?: OSS.RequestOptions): Promise<{ stream: Readable & { destroy(err?: Error): void }; res: OSS.ResponseInfo }>;
    get(name: string, file?: string, options?: OSS.RequestOptions): Promise<{ content: Buffer; res: OSS.ResponseInfo }>;
    head(name: string, options?: OSS.RequestOptions): Promise<{ status: number; res: OSS.ResponseInfo; meta: Record<string, string> | null }>;
    delete(name: string, options?: OSS.RequestOptions): Promise<{ res: OSS.ResponseInfo }>;
    listV2(query: Record<string, string | number>, options?: OSS.RequestOptions): Promise<OSS.ListV2Result>;
    multipartUpload(name: string, file: string, options?: OSS.MultipartOptions): Promise<{ name: string; etag: string; res: OSS.ResponseInfo }>;
    abortMultipartUpload(name: string, uploadId: string, options?: OSS.RequestOptions): Promise<{ res: OSS.ResponseInfo }>;
  }

  export = OSS;
}
