/**
 * @module VGG16 (Simonyan & Zisserman 2014), the network of Gatys et al.
 *
 * Five blocks of 3x3 convolutions (pad 1) + ReLU, each closed by a 2x2 stride-2
 * pool (floor mode, as Keras). Layer names are Keras's (`block1_conv1` ...
 * `block5_conv3`, `block{n}_pool`); no classifier (the "notop" weights).
 * Preprocessing: BGR minus the ImageNet means (B 103.939, G 116.779, R 123.68).
 */
import * as tf from "@tensorflow/tfjs";
import { conv, networkFromWeights, type WeightTensors } from "./layers.ts";
import type { NetworkOptions, Pooling } from "./network.ts";
import { type GraphLayer, type GraphNetwork, INPUT } from "./graph.ts";

/** ImageNet channel means, B G R, as Keras's VGG16 preprocessing subtracts them. */
export const VGG16_MEAN_BGR: readonly [number, number, number] = [103.939, 116.779, 123.68];

/** Filters per conv layer of each block. */
export const VGG16_BLOCKS: readonly (readonly number[])[] = [
  [64, 64],
  [128, 128],
  [256, 256, 256],
  [512, 512, 512],
  [512, 512, 512],
];

/**
 * Keras's floor-mode 2x2 stride-2 pool, through `caffePool` (its fast max-pool
 * gradient). Caffe's ceil mode would add a window over an odd last row or column;
 * cropping that row or column first keeps Keras's floor size.
 */
function pool2x2(name: string, input: string, pooling: Pooling): GraphLayer {
  const spec = { kernel: 2, stride: 2, pad: 0, kind: pooling };
  return { name, inputs: [input], op: { type: "pool", spec, floor: true } };
}

function vgg16Graph(w: WeightTensors, pooling: Pooling): GraphLayer[] {
  const graph: GraphLayer[] = [];
  let input = INPUT;
  VGG16_BLOCKS.forEach((filters, b) => {
    filters.forEach((_, c) => {
      const name = `block${b + 1}_conv${c + 1}`;
      graph.push(conv(w, name, input, { pad: 1 }));
      input = name;
    });
    graph.push(pool2x2(`block${b + 1}_pool`, input, pooling));
    input = `block${b + 1}_pool`;
  });
  return graph;
}

/**
 * VGG16 from canonical weights (`block1_conv1/kernel` `[3,3,3,64]`, `block1_conv1/bias`, ...).
 * The network owns `tensors` and frees them on `dispose()`.
 */
export function createVgg16(
  tensors: tf.NamedTensorMap,
  options: NetworkOptions = {},
): GraphNetwork {
  return networkFromWeights(
    { id: "vgg16", graph: vgg16Graph, meanBgr: VGG16_MEAN_BGR },
    tensors,
    options,
  );
}

/**
 * VGG16 with random weights (He-normal kernels, zero biases), for tests of
 * shapes and gradients. `widthScale` shrinks every layer's filter count.
 */
export function randomVgg16Weights(seed = 1, widthScale = 1): tf.NamedTensorMap {
  const tensors: tf.NamedTensorMap = {};
  let channels = 3;
  VGG16_BLOCKS.forEach((filters, b) => {
    filters.forEach((full, c) => {
      const out = Math.max(1, Math.round(full * widthScale));
      const name = `block${b + 1}_conv${c + 1}`;
      const std = Math.sqrt(2 / (9 * channels));
      tensors[`${name}/kernel`] = tf.randomNormal([3, 3, channels, out], 0, std, "float32", seed++);
      tensors[`${name}/bias`] = tf.zeros([out]);
      channels = out;
    });
  });
  return tensors;
}
