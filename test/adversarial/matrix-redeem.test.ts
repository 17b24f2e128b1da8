import { defineMatrix } from './matrix.js';

defineMatrix('redeem_points');
