/**
 * @module Each network's tuned loss set-ups.
 *
 * Layer names are the network's own (Caffe blob names for SqueezeNet and
 * GoogLeNet, Keras layer names for VGG16); activations are post-ReLU.
 */
import type { NetworkId, Preset } from "./network.ts";

/** VGG16's two reference presets (DESIGN §1), with their exact values. */
const vgg16: Record<string, Preset> = {
  seed: {
    contentLayers: { block2_conv2: 1 },
    styleLayers: {
      block1_conv2: 0.05,
      block2_conv2: 0.2,
      block3_conv3: 0.2,
      block4_conv3: 0.25,
      block5_conv3: 0.3,
    },
    contentWeight: 1 / 10,
    styleWeight: 1,
    tvWeight: 0,
  },
  "seed-deep": {
    contentLayers: { block4_conv2: 1 },
    styleLayers: {
      block1_conv2: 0.05,
      block2_conv2: 0.15,
      block3_conv3: 0.2,
      block4_conv3: 0.3,
      block5_conv3: 0.3,
    },
    contentWeight: 1 / 5,
    styleWeight: 1,
    tvWeight: 0,
  },
};

// SqueezeNet and GoogLeNet have peaky activations: the Gram entries of their
// layers span orders of magnitude, so with the reference's plain MSE one layer
// (and the content term) swamps the rest and the result is grey noise with a
// faint cat. `normalize` divides every layer's loss by its target's mean
// square, so each starts near 1 and the weights below mean what they say.
// Chosen by looking at cat.png + starry-night.jpg and coffee.png +
// great-wave.jpg at 128 and 256 px (100 L-BFGS iterations from noise):
// - style on the shallow layers carries the palette and brush strokes;
//   shifting weight to fire7/fire9 turned the result grey;
// - content at fire3/concat keeps the cat's eyes, nose and fur direction;
//   fire5/concat (1/8 resolution) lost them at 128 px;
// - content:style 1:10 keeps the cat recognisable while the swirls and the
//   blue/yellow palette dominate; 2:10 looked more photo than painting;
// - TV 0.003 (TV is a mean over pixels) removes SqueezeNet's stride-2 conv1
//   checkerboard without visibly blurring strokes.
const squeezenet: Record<string, Preset> = {
  default: {
    contentLayers: { "fire3/concat": 1 },
    styleLayers: {
      conv1: 0.2,
      "fire2/concat": 0.2,
      "fire3/concat": 0.2,
      "fire5/concat": 0.2,
      "fire7/concat": 0.2,
    },
    contentWeight: 1,
    styleWeight: 10,
    tvWeight: 0.003,
    normalize: true,
  },
};

// Same normalisation as SqueezeNet. With style on inception_4a/4c (the first
// guess) the result was grey swirls over a faint cat: the deep layers' Gram
// errors stay large and drown the palette. Weighting the stem (conv1, conv2)
// and inception_3a/3b instead gave the painting's blue/yellow palette and
// brush strokes; content at inception_3a/output with content:style 2:10 keeps
// the cat (conv2/3x3 as content looked more like a filtered photo).
const googlenet: Record<string, Preset> = {
  default: {
    contentLayers: { "inception_3a/output": 1 },
    styleLayers: {
      "conv1/7x7_s2": 0.4,
      "conv2/3x3": 0.3,
      "inception_3a/output": 0.2,
      "inception_3b/output": 0.1,
    },
    contentWeight: 2,
    styleWeight: 10,
    tvWeight: 0.003,
    normalize: true,
  },
};

/** Presets by network; each has a `default` entry. */
export const PRESETS: Record<NetworkId, Record<string, Preset>> = {
  squeezenet,
  googlenet,
  vgg16: { default: vgg16.seed, ...vgg16 },
};
