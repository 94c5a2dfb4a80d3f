/** Every stage edgelab has, in no particular order (the runner orders them by STAGE_ORDER). */
import type { Stage } from "../stage.js";
import { imagesStage } from "./images.js";
import { localStage } from "./local.js";
import { provisionStage } from "./provision.js";
import { renderStage } from "./render.js";
import { smokeStage } from "./smoke.js";
import { validateStage } from "./validate.js";

export function allStages(): Stage[] {
  return [validateStage, renderStage, imagesStage, provisionStage, localStage, smokeStage];
}
