/**
 * @module The feature-network interface every network implements.
 *
 * A network is data (frozen weights) plus a small forward function that maps a
 * preprocessed batch of one image to the activations of the layers asked for.
 */
import type * as tf from "@tensorflow/tfjs";
import type { PadMode } from "../ops/conv.ts";

import type { NetworkId } from "../weights/manifest.ts";

// The networks are the ones whose weights Restyle installs.
export { NETWORK_IDS, type NetworkId } from "../weights/manifest.ts";

/** Layer name -> weight of that layer in its loss. */
export type LayerWeights = Record<string, number>;

/** The tuned loss set-up of a network: layers, their weights and the loss balance. */
export interface Preset {
  /** Content layers and their weights (summed into the content loss). */
  contentLayers: LayerWeights;
  /** Style layers and their weights (summed into the style loss). */
  styleLayers: LayerWeights;
  /** Multiplier of the content loss in the total (`contentWeight` option overrides it). */
  contentWeight: number;
  /** Multiplier of the style loss in the total (`styleWeight` option overrides it). */
  styleWeight: number;
  /** Multiplier of the total-variation (smoothness) loss; 0 turns it off. */
  tvWeight: number;
  /**
   * Divide each layer's content and style loss by its target's mean square, so
   * every layer starts near 1 whatever its activation scale (for networks with
   * peaky activations). Off (absent) for the reference VGG16 presets.
   */
  normalize?: boolean;
  /** Convolution padding during stylization (`reflect` avoids border bands); default `zero`. */
  padding?: "zero" | "reflect";
  /** Downsampling pools during stylization; default `max`. */
  pooling?: "max" | "avg" | "blur";
}

/** A pre-trained CNN used as a fixed feature extractor. */
export interface FeatureNetwork {
  /** Which network this is. */
  readonly id: NetworkId;
  /** Every layer `features()` can return, in forward order. */
  readonly layers: readonly string[];
  /** Per-channel means subtracted in preprocessing, in the network's channel order (BGR). */
  readonly mean: readonly [number, number, number];
  /** Tuned presets; `default` is used when none is named. */
  readonly presets: Readonly<Record<string, Preset>>;
  /**
   * RGB 0..255 `[1, h, w, 3]` -> the network's input space (BGR, mean subtracted).
   */
  preprocess(rgb: tf.Tensor4D): tf.Tensor4D;
  /**
   * Inverse of `preprocess`, clipped to 0..255 RGB.
   */
  deprocess(x: tf.Tensor4D): tf.Tensor4D;
  /**
   * Runs the network as far as the deepest layer asked for; returns those activations.
   */
  features(x: tf.Tensor4D, layers: readonly string[]): Record<string, tf.Tensor4D>;
  /**
   * `[height, width]` of each of `layers` for an input of `[height, width]`, from
   * the layers' geometry alone (no tensor made); a side below 1 means the layer
   * cannot run at that input size. Networks without it are not size-checked.
   */
  outputSizes?(
    input: readonly [number, number],
    layers: readonly string[],
  ): Record<string, readonly [number, number]>;
  /** Frees the weights. */
  dispose(): void;
}

/**
 * Pooling used for the downsampling pools: the trained `max`, Gatys's `avg`, or
 * `blur`, an average weighted [1,2,1] that covers every input equally (see `PoolSpec`).
 */
export type Pooling = "max" | "avg" | "blur";

export type { PadMode } from "../ops/conv.ts";

/** How a network is built from its weights. */
export interface NetworkOptions {
  /** Downsampling pools; default `max`, as trained. */
  pooling?: Pooling;
  /** Convolution padding; default `zero`, as trained. */
  padding?: PadMode;
  /** Class labels, line i = class i. */
  labels?: readonly string[];
  /** The tensors are shared with another instance: `dispose()` leaves them alone. */
  sharedTensors?: boolean;
}
