export { digestKernelGuest } from './kernel-digest.js';
export { formatDisk, VirtualDisk } from './disk.js';
export { KERNEL_MAGIC, kernelLayout, kernelSizes, layoutProblem, PageState, Sb, type KernelLayout, type KernelSizes } from './layout.js';
export { PartitionWords } from './partition-words.js';
export { HintArea, type HintHeader } from './hint-area.js';
