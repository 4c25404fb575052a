import * as tf from '@tensorflow/tfjs-core';
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
console.log(tf.getGradient('RealDiv') != null, tf.getGradient('Conv2D') != null);
