/**
 * @module BVLC GoogLeNet (Inception v1, Szegedy et al. 2014), as its Caffe deploy.prototxt.
 *
 * conv1 (7x7/2) -> pool1 -> LRN -> conv2 (1x1, 3x3) -> LRN -> pool2 ->
 * inception 3a, 3b -> pool3 -> 4a..4e -> pool4 -> 5a, 5b -> 7x7 average ->
 * fully connected (1000 classes). Blob names are Caffe's, post-ReLU.
 */
import * as tf from "@tensorflow/tfjs";
import { caffePool } from "../ops/pool.ts";
import { CAFFE_MEAN_BGR, inception, lrn } from "./_caffe.ts";
import { conv, downsample, networkFromWeights, type WeightTensors } from "./layers.ts";
import type { NetworkOptions, Pooling } from "./network.ts";
import { type GraphLayer, type GraphNetwork, INPUT } from "./graph.ts";

/** The layer graph of GoogLeNet up to `inception_5b/output`, downsampling with `pooling`. */
function googlenetGraph(w: WeightTensors, pooling: Pooling): GraphLayer[] {
  return [
    conv(w, "conv1/7x7_s2", INPUT, { stride: 2, pad: 3 }),
    downsample("pool1/3x3_s2", "conv1/7x7_s2", pooling),
    lrn("pool1/norm1", "pool1/3x3_s2"),
    conv(w, "conv2/3x3_reduce", "pool1/norm1"),
    conv(w, "conv2/3x3", "conv2/3x3_reduce", { pad: 1 }),
    lrn("conv2/norm2", "conv2/3x3"),
    downsample("pool2/3x3_s2", "conv2/norm2", pooling),
    ...inception(w, "inception_3a", "pool2/3x3_s2"),
    ...inception(w, "inception_3b", "inception_3a/output"),
    downsample("pool3/3x3_s2", "inception_3b/output", pooling),
    ...inception(w, "inception_4a", "pool3/3x3_s2"),
    ...inception(w, "inception_4b", "inception_4a/output"),
    ...inception(w, "inception_4c", "inception_4b/output"),
    ...inception(w, "inception_4d", "inception_4c/output"),
    ...inception(w, "inception_4e", "inception_4d/output"),
    downsample("pool4/3x3_s2", "inception_4e/output", pooling),
    ...inception(w, "inception_5a", "pool4/3x3_s2"),
    ...inception(w, "inception_5b", "inception_5a/output"),
  ];
}

/**
 * GoogLeNet from canonical weights (`conv1/7x7_s2/kernel`, ..., `loss3/classifier/kernel`
 * as `[1024, 1000]`). The network owns `tensors` and frees them on `dispose()`.
 */
export function createGooglenet(
  tensors: tf.NamedTensorMap,
  options: NetworkOptions = {},
): GraphNetwork {
  return networkFromWeights(
    {
      id: "googlenet",
      graph: googlenetGraph,
      meanBgr: CAFFE_MEAN_BGR,
      head: (w) => {
        const classifier = w.get("loss3/classifier");
        return {
          input: "inception_5b/output",
          inputSize: 224,
          // pool5/7x7_s1 (average), dropout = identity, loss3/classifier. Larger inputs
          // average the pooled windows, which equals averaging their logits.
          run: (x) => {
            const pooled = caffePool(x, { kernel: 7, stride: 1, pad: 0, kind: "avg" });
            const features = tf.mean(pooled, [1, 2]) as tf.Tensor2D;
            return tf.add(tf.matMul(features, classifier.kernel as tf.Tensor2D), classifier.bias);
          },
        };
      },
    },
    tensors,
    options,
  );
}
