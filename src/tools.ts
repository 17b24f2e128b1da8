// The one place in src/ that imports tools: the list the server registers.
import redeemPoints from '../tools/redeem_points.js';
import requestPointsRedemption from '../tools/request_points_redemption.js';
import unlockPromisedPoints from '../tools/unlock_promised_points.js';
import updateRedemption from '../tools/update_redemption.js';
import type { AnyTool } from './tool.js';

export const ALL_TOOLS: AnyTool[] = [
  redeemPoints,
  requestPointsRedemption,
  updateRedemption,
  unlockPromisedPoints,
] as unknown as AnyTool[];
