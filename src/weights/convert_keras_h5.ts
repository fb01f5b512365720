import type { StoredTensor } from "./store.ts";
export function convertKerasH5(_path: string): Promise<StoredTensor[]> {
  throw new Error("not yet");
}
