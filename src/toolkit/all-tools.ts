// The one place in src/ that imports tools: the list the server registers, in workflow order.
import checkPointsRedeemable from '../../tools/check_points_redeemable.js';
import getPointsBalance from '../../tools/get_points_balance.js';
import getRedemptionRequest from '../../tools/get_redemption_request.js';
import issueRedemptionCode from '../../tools/issue_redemption_code.js';
import redeemPoints from '../../tools/redeem_points.js';
import requestPointsRedemption from '../../tools/request_points_redemption.js';
import reverseRedemption from '../../tools/reverse_redemption.js';
import unlockPromisedPoints from '../../tools/unlock_promised_points.js';
import updateRedemption from '../../tools/update_redemption.js';
import type { AnyTool } from './define.js';

export const ALL_TOOLS: AnyTool[] = [
  getPointsBalance,
  checkPointsRedeemable,
  issueRedemptionCode,
  redeemPoints,
  requestPointsRedemption,
  getRedemptionRequest,
  updateRedemption,
  unlockPromisedPoints,
  reverseRedemption,
] as unknown as AnyTool[];
