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

// First guesses; tuned by looking at real outputs on the fixture images.
const squeezenet: Record<string, Preset> = {
  default: {
    contentLayers: { "fire5/concat": 1 },
    styleLayers: {
      conv1: 0.2,
      "fire2/concat": 0.2,
      "fire3/concat": 0.2,
      "fire5/concat": 0.2,
      "fire7/concat": 0.2,
    },
    contentWeight: 1 / 10,
    styleWeight: 1,
    tvWeight: 0,
  },
};

const googlenet: Record<string, Preset> = {
  default: {
    contentLayers: { "inception_3b/output": 1 },
    styleLayers: {
      "conv1/7x7_s2": 0.2,
      "conv2/3x3": 0.2,
      "inception_3a/output": 0.2,
      "inception_4a/output": 0.2,
      "inception_4c/output": 0.2,
    },
    contentWeight: 1 / 10,
    styleWeight: 1,
    tvWeight: 0,
  },
};

/** Presets by network; each has a `default` entry. */
export const PRESETS: Record<NetworkId, Record<string, Preset>> = {
  squeezenet,
  googlenet,
  vgg16: { default: vgg16.seed, ...vgg16 },
};
