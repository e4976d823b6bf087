/**
 * The failure converter of a worker with encryption on: a failure's message and stack trace go into
 * its encoded attributes, a payload that the codec encrypts like any other, and the stored message
 * reads "Encoded failure". Without it they stay plain text in history, and a failure message can
 * quote private data (a model's refusal quoting the task, an endpoint's error echoing a prompt).
 * Clients decode the attributes back into message and stack (the SDK's default converter does).
 *
 * Loaded by path (dataConverter.failureConverterPath): the worker bundles it into the workflow code
 * and loads it for activities. See workerDataConverter in ./worker.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
