import { defineMatrix } from './matrix.js';

defineMatrix('reverse_redemption');
