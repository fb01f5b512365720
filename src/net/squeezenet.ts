/**
 * @module SqueezeNet v1.1 (Iandola et al. 2016), as its Caffe deploy.prototxt.
 *
 * conv1 (3x3/2) -> pool1 -> fire2, fire3 -> pool3 -> fire4, fire5 -> pool5 ->
 * fire6..fire9 -> conv10 (1000 classes) -> global average. Blob names are
 * Caffe's; every convolution's blob is post-ReLU.
 */
import * as tf from "@tensorflow/tfjs";
import { CAFFE_MEAN_BGR, fire } from "./_caffe.ts";
import { conv, downsample, networkFromWeights, type WeightTensors } from "./layers.ts";
import type { NetworkOptions, Pooling } from "./network.ts";
import { type GraphLayer, type GraphNetwork, INPUT } from "./graph.ts";

/** The layer graph of SqueezeNet v1.1, downsampling with `pooling`. */
function squeezenetGraph(w: WeightTensors, pooling: Pooling): GraphLayer[] {
  return [
    conv(w, "conv1", INPUT, { stride: 2 }),
    downsample("pool1", "conv1", pooling),
    ...fire(w, "fire2", "pool1"),
    ...fire(w, "fire3", "fire2/concat"),
    downsample("pool3", "fire3/concat", pooling),
    ...fire(w, "fire4", "pool3"),
    ...fire(w, "fire5", "fire4/concat"),
    downsample("pool5", "fire5/concat", pooling),
    ...fire(w, "fire6", "pool5"),
    ...fire(w, "fire7", "fire6/concat"),
    ...fire(w, "fire8", "fire7/concat"),
    ...fire(w, "fire9", "fire8/concat"),
    conv(w, "conv10", "fire9/concat"), // drop9 is the identity at inference
  ];
}

/**
 * SqueezeNet v1.1 from canonical weights (`conv1/kernel`, `fire2/squeeze1x1/bias`, ...).
 * The network owns `tensors` and frees them on `dispose()`.
 */
export function createSqueezenet(
  tensors: tf.NamedTensorMap,
  options: NetworkOptions = {},
): GraphNetwork {
  return networkFromWeights(
    {
      id: "squeezenet",
      graph: squeezenetGraph,
      meanBgr: CAFFE_MEAN_BGR,
      head: () => ({
        input: "conv10",
        inputSize: 227,
        run: (conv10) => tf.mean(conv10, [1, 2]) as tf.Tensor2D, // pool10: global average
      }),
    },
    tensors,
    options,
  );
}
