"""Qt-free trackers: the interface, the registry and the trackers themselves."""
from .base import BoxSet, ScoreMap, Tracker, TrackerError, TrackResult
from .registry import available, create, info, register

# --- the registry: one line per tracker ------------------------------------
register("csrt", "trackers.baselines.opencv:OpenCVTracker", "OpenCV CSRT (discriminative correlation filter)", kind="csrt", uses_torch=False)
register("kcf", "trackers.baselines.opencv:OpenCVTracker", "OpenCV KCF (kernelised correlation filter)", kind="kcf", uses_torch=False)
register("mil", "trackers.baselines.opencv:OpenCVTracker", "OpenCV MIL (multiple-instance learning)", kind="mil", uses_torch=False)
register("interpolation", "trackers.baselines.interpolation:InterpolationTracker",
         "linear interpolation between human keyframes (CVAT/VATIC baseline)", uses_torch=False)
register("csrt-grabcut", "trackers.baselines.grabcut:CSRTGrabCutTracker",
         "CSRT box + GrabCut inside the box every frame (mask baseline)", produces_masks=True, uses_torch=False)
register("pixelwise", "trackers.pixelwise.tracker:PixelwiseTracker",
         "pixel-wise ConvLSTM tracker, 2-stage: global attention ROI + local segmentation (masks)",
         produces_masks=True, needs_weights=True, trained_on="pixelwise/train_sequences.txt")
register("pixelwise-1stage", "trackers.pixelwise.tracker:PixelwiseTracker",
         "pixel-wise ConvLSTM tracker, 1-stage: ROI at the previous mask's weighted centroid (masks)",
         produces_masks=True, needs_weights=True, mode="1stage", trained_on="pixelwise/train_sequences.txt")
register("fcot", "trackers.fcot.tracker:FCOTTracker",
         "FCOT: two-scale online classifiers + online anchor-free box regression (EfficientNet-Lite0)",
         needs_weights=True, trained_on="fcot/train_sequences.txt")
register("fcot-noscale", "trackers.fcot.tracker:FCOTTracker",
         "FCOT ablation: the box size from the online regressor alone, no scale check (the default until "
         "session 7)", needs_weights=True, scale_check=0.0, max_scale_change=1.5, centre_check=0.0, refit_lag=0,
         trained_on="fcot/train_sequences.txt")
register("fcot-nocentre", "trackers.fcot.tracker:FCOTTracker",
         "FCOT ablation: scale check but no centre check, refit in track() (the default in session 7)",
         needs_weights=True, centre_check=0.0, refit_lag=0, trained_on="fcot/train_sequences.txt")
register("fcot-heads", "trackers.fcot.tracker:FCOTTracker",
         "FCOT ablation, the paper's recipe: Score Map-18 on the trained head (not the ImageNet trunk), "
         "memory update every 25 frames, lambda 0.25, box size from the regressor alone", needs_weights=True,
         coarse_features="head", update_interval=25, merge_lambda=0.25, scale_check=0.0, max_scale_change=1.5,
         centre_check=0.0, refit_lag=0,
         trained_on="fcot/train_sequences.txt")
register("fcot-norm", "trackers.fcot.tracker:FCOTTracker",
         "FCOT variant (session 5): regression features normalised to one norm per cell, no scale check "
         "(boxes shrink less on unseen targets)", needs_weights=True,
         normalize_regression=True, scale_check=0.0, max_scale_change=1.5, centre_check=0.0, refit_lag=0,
         trained_on="fcot/train_sequences.txt")
register("gstp", "trackers.gstp.tracker:GSTPTracker",
         "GSTP long-term: whole-frame SiamRCNN (Lite0) + HRNet motion model rescoring; reports absence",
         needs_weights=True, trained_on="gstp/train_sequences.txt")
register("gstp-nomotion", "trackers.gstp.tracker:GSTPTracker",
         "GSTP ablation: whole-frame SiamRCNN without the motion model", needs_weights=True, motion=False,
         trained_on="gstp/train_sequences.txt")
register("gstp-roihead", "trackers.gstp.tracker:GSTPTracker",
         "GSTP ablation: candidates scored by the trained RoI head (the paper's) instead of trunk similarity",
         needs_weights=True, appearance="head", trained_on="gstp/train_sequences.txt")
register("rolo", "trackers.rolo.tracker:RoloTracker",
         "ROLO: template detector (Lite0) + LSTM regressing the box coordinates", needs_weights=True, variant="coords",
         trained_on="rolo/train_sequences.txt")
register("rolo-heatmap", "trackers.rolo.tracker:RoloTracker",
         "ROLO heatmap variant: the LSTM predicts a 32x32 heatmap of the frame", needs_weights=True, variant="heatmap",
         trained_on="rolo/train_sequences.txt")
register("detector-kalman", "trackers.rolo.kalman:DetectorKalmanTracker",
         "ROLO's detector + constant-velocity Kalman filter, IoU-gated (the paper's YOLO+SORT baseline)",
         needs_weights=True, trained_on="rolo/train_sequences.txt")
register("siamtfa", "trackers.siamtfa.tracker:SiamTFATracker",
         "SiamTFA: two-stage Siamese tracker (Lite0 FPN, adversarial dropout), bidirectional temporal shift "
         "(reads the next frame; offline propagation)", needs_weights=True, look_ahead=True, weights="siamtfa.pth",
         trained_on="siamtfa/train_sequences.txt")
register("siamtfa-causal", "trackers.siamtfa.tracker:SiamTFATracker",
         "SiamTFA with the causal temporal shift (past frame only; live use)", needs_weights=True,
         weights="siamtfa_causal.pth", trained_on="siamtfa/train_sequences.txt")
register("siamtfa-base", "trackers.siamtfa.tracker:SiamTFATracker",
         "SiamTFA ablation: no temporal shift, no adversarial dropout", needs_weights=True, weights="siamtfa_base.pth",
         trained_on="siamtfa/train_sequences.txt")
register("siamtfa-tam", "trackers.siamtfa.tracker:SiamTFATracker",
         "SiamTFA ablation: bidirectional temporal shift, no adversarial dropout", needs_weights=True,
         look_ahead=True, weights="siamtfa_tam.pth", trained_on="siamtfa/train_sequences.txt")
register("siamtfa-roihead", "trackers.siamtfa.tracker:SiamTFATracker",
         "SiamTFA ablation: the refined RoIs ranked by the trained refine head (the paper's) instead of trunk "
         "similarity", needs_weights=True, look_ahead=True, weights="siamtfa.pth", appearance="head",
         trained_on="siamtfa/train_sequences.txt")

__all__ = ["BoxSet", "ScoreMap", "Tracker", "TrackerError", "TrackResult", "available", "create", "info", "register"]
