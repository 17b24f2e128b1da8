import { defineMatrix } from './matrix.js';

defineMatrix('request_points_redemption');
