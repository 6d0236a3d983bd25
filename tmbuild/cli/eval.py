"""`tmbuild eval` and `tmbuild split`: the commands about how good the model is.

Click code only; the work is in tmbuild.evaluate (the run, the report, the split).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tmbuild.cli.common import (
    DEFAULT_CONFIG,
    common_options,
    config_options,
    load_site_config,
    log,
    progress_bar,
    setup_logging,
    shown_path,
)
from tmbuild.errors import TmbuildError


@click.command("eval")
@config_options
@click.option(
    "--images",
    "--clips",
    "images_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Held-out images, or clips for an audio model: a folder with one folder per label "
    "(default: eval.images).",
)
@click.option(
    "--site",
    "site_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Evaluate this built site as it is, instead of building one.",
)
@click.option(
    "-o",
    "--output",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for eval.json and eval.html (default: the folder of site.yaml).",
)
@click.option(
    "--target-error",
    type=click.FloatRange(0, 1),
    help="Share of wrong answers the recommended threshold allows (default: eval.target_error "
    "of site.yaml).",
)
@click.option(
    "--write-threshold",
    is_flag=True,
    help="Write the recommended threshold into site.yaml (classifier.threshold), if its error "
    "rate's 95% interval is at most 10 points wide.",
)
@click.option(
    "--force",
    is_flag=True,
    help="With --write-threshold: write it even where its interval is wider (the report says).",
)
@click.option(
    "--compare-quantized",
    type=click.Choice(["float16", "int8", "uint8"]),
    help="Also evaluate the model with quantized weights and compare the two.",
)
@click.option(
    "--robustness",
    is_flag=True,
    help="Classify again under changed light, colour, focus and framing (for an audio model: "
    "noise and level).",
)
@click.option(
    "--training",
    "training_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="The training images (one folder per label): held-out images found among them, "
    "exact or near copies, are reported and left out of the figures.",
)
@click.option(
    "--keep-leaked",
    is_flag=True,
    help="With --training: count the held-out images found among them in the figures.",
)
@click.option(
    "--chromium",
    "chromium_path",
    help="Chromium to run (default: $TMBUILD_CHROMIUM, else chromium on this machine).",
)
@common_options
def evaluate(
    config_path,
    model_path,
    quantize,
    base_url,
    strict,
    images_dir,
    site_dir,
    report_dir,
    target_error,
    write_threshold,
    force,
    compare_quantized,
    robustness,
    training_dir,
    keep_leaked,
    chromium_path,
    verbose,
    quiet,
):
    """Measure the model on held-out images, in the built page, and recommend a threshold.

    The images (--images, or eval.images in site.yaml) are one folder per label (matched to
    labels ignoring case; eval.aliases in site.yaml maps the others). Every image is classified
    by the site's own page in headless Chromium; eval.json and a self-contained eval.html
    report are written.

    \b
    Examples:
      tmbuild eval --images holdout
      tmbuild eval --images holdout --target-error 0.02 --write-threshold
      tmbuild eval --images holdout --write-threshold --force
      tmbuild eval --images holdout --compare-quantized float16 --robustness
      tmbuild eval --images holdout --training samples
      tmbuild eval --clips recordings --robustness     # an audio model
    """
    setup_logging(verbose, quiet)
    from tmbuild.config.schema import EvalConfig
    from tmbuild.evaluate.record import summary_record, write_record
    from tmbuild.evaluate.report import write_reports
    from tmbuild.evaluate.run import EvalOptions
    from tmbuild.evaluate.run import evaluate as run_eval
    from tmbuild.evaluate.summary import summary
    from tmbuild.evaluate.verdict import MAX_ERROR_WIDTH, threshold_decision

    # With --site alone there is nothing to build: site.yaml is optional then.
    has_config = bool(config_path or model_path or Path(DEFAULT_CONFIG).is_file())
    try:
        config = None
        if has_config or site_dir is None:
            config = load_site_config(config_path, model_path, quantize, base_url, strict)
        if write_threshold and (config is None or config.config_path is None):
            raise click.UsageError("--write-threshold needs a site.yaml to write to")
        if force and not write_threshold:
            raise click.UsageError("--force goes with --write-threshold")
        if keep_leaked and training_dir is None:
            raise click.UsageError("--keep-leaked goes with --training")
        if target_error is None:
            # With --site alone, site.yaml's default.
            target_error = (config.eval if config is not None else EvalConfig()).target_error
        images_dir = images_dir or (config.eval.images if config is not None else None)
        if images_dir is None:
            raise click.UsageError("give --images, or eval.images in site.yaml: held-out images")
        options = EvalOptions(
            images=images_dir,
            site=site_dir,
            target_error=target_error,
            compare_quantized=compare_quantized,
            robustness=robustness,
            chromium=chromium_path,
            training=training_dir,
            keep_leaked=keep_leaked,
        )
        with progress_bar(quiet, "Classifying") as progress:
            evaluation = run_eval(config, options, progress=progress)
        decision = None
        if write_threshold:
            decision = threshold_decision(evaluation.report, force)
            if decision["threshold"] is not None and decision["refusal"] is None:
                evaluation.report["threshold"]["written"] = {
                    "threshold": decision["threshold"],
                    "forced": decision["forced"],
                    "width": decision["width"],
                    "max_width": MAX_ERROR_WIDTH,
                }
        folder = report_dir or (config.root if config is not None else Path("."))
        written = write_reports(evaluation.report, folder)
        build = site_dir or (config.output if config is not None else None)
        recorded = write_record(summary_record(evaluation.report), build) if build else None
    except KeyboardInterrupt:
        click.echo("Interrupted: no report was written.", err=True)
        sys.exit(130)
    if not quiet:
        images = evaluation.report["images"]
        count = images["classified"] + len(images["undecodable"])
        unit = images.get("unit", "images")  # clips, for an audio model
        extra = []
        if "seconds" in images:  # how much sound: what a clip's time goes on
            extra.append(f"{images['seconds']:.1f} s of sound")
        if evaluation.classifications > count:
            extra.append(f"{evaluation.classifications} classifications")
        runs = f" ({', '.join(extra)})" if extra else ""
        click.echo(
            f"Classified {count} {unit}{runs} in {evaluation.seconds:.1f} s "
            f"({evaluation.images_per_second:.1f} per second in the page, "
            f"{evaluation.report['backend']})"
        )
        click.echo(summary(evaluation.report))
    for warning in evaluation.report["warnings"]:  # after the figures, where they are seen
        log.warning(warning)
    if not quiet:
        click.echo(f"Wrote {' and '.join(shown_path(path) for path in written)}")
        if recorded is not None:
            click.echo(f"Recorded the accuracy for tmbuild diff in {shown_path(recorded)}")
    if decision is not None:
        if decision["refusal"] is not None:
            raise TmbuildError(decision["refusal"])
        _write_threshold(config, decision["threshold"], decision["forced"], quiet)


def _write_threshold(config, threshold: float | None, forced: bool, quiet: bool) -> None:
    from tmbuild.config.load import load_config
    from tmbuild.config.yamlfile import update_file

    shown = shown_path(config.config_path)
    if threshold is None:
        log.warning(f"no threshold reaches the target error rate: {shown} was left as it was")
        return
    update_file(config.config_path, "classifier", "threshold", f"{threshold:.2f}")
    reread, _ = load_config(config.config_path)
    if reread.classifier.threshold != threshold:  # a bug: the file must say what was written
        raise TmbuildError(f"{shown}: classifier.threshold reads {reread.classifier.threshold}")
    if not quiet:
        how = " (forced: its interval is wider than --write-threshold accepts)" if forced else ""
        click.echo(f"Set classifier.threshold: {threshold:.2f} in {shown}{how}")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--holdout",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of each label's images to hold out.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Another seed, other images.")
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write train/ and holdout/ into (default: DIRECTORY-split beside it).",
)
@common_options
def split(directory, holdout, seed, output, verbose, quiet):
    """Copy a held-out share of each label's images aside, the same images for the same seed.

    DIRECTORY holds one folder per label and is only read. The output gets train/ (upload it
    to Teachable Machine) and holdout/ (for tmbuild eval), each with one folder per label.

    \b
    Examples:
      tmbuild split photos                   # writes photos-split/train and photos-split/holdout
      tmbuild split photos --holdout 0.25 --seed 7 -o photos-split
    """
    setup_logging(verbose, quiet)
    from tmbuild.evaluate.split import split as run_split

    source = directory.resolve()
    output = output or source.parent / f"{source.name}-split"
    result = run_split(directory, output, holdout, seed)
    if not quiet:
        click.echo(result.report(shown_path(output)))
