/** Every stage edgelab has, in no particular order (the runner orders them by STAGE_ORDER). */
import type { Stage } from "../stage.js";
import { deployStage } from "./deploy.js";
import { dnsStage } from "./dns.js";
import { ciliumStage } from "./cilium.js";
import { k3sStage } from "./k3s.js";
import { imagesStage } from "./images.js";
import { localStage } from "./local.js";
import { prepareStage } from "./prepare.js";
import { provisionStage } from "./provision.js";
import { renderStage } from "./render.js";
import { smokeStage } from "./smoke.js";
import { validateStage } from "./validate.js";

export function allStages(): Stage[] {
  return [validateStage, renderStage, imagesStage, provisionStage, prepareStage, k3sStage, ciliumStage, localStage, deployStage, dnsStage, smokeStage];
}
