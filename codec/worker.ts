/** The worker's data converter: the encryption codec and, with it, encrypted failure messages. */
import type { DataConverter } from '@temporalio/common';
import { encryptionDataConverter, type EncryptionKeys } from '.';

/**
 * For dataConverter.failureConverterPath. A worker built from a prebuilt workflow bundle needs
 * that bundle made with it too (bundleWorkflowCode's failureConverterPath), or the workflow's own
 * failures stay plain text.
 */
export const ENCRYPTED_FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** Nothing when encryption is off: failures stay readable in history and in the Temporal UI. */
export function workerDataConverter(encryption: EncryptionKeys | null): DataConverter | undefined {
  const converter = encryptionDataConverter(encryption);
  return converter && { ...converter, failureConverterPath: ENCRYPTED_FAILURE_CONVERTER_PATH };
}
