"""The GitHub Classroom workflow that ``python -m grader bundle --classroom FILE`` writes."""

from pathlib import Path

from grader.judges.rubric import EXERCISES

TEMPLATES = Path(__file__).resolve().parent / "templates"


def classroom_workflow(markers=None):
    """The GitHub Classroom workflow, one autograding step per exercise, with the rubric's points.

    Classroom adds up every step, so by default the steps are the core's (100 points); the extras join
    only when named with ``markers``.
    """
    exercises = [ex for ex in EXERCISES if (ex.marker in markers if markers else ex.track == "core")]
    steps, env = [], []
    for ex in exercises:
        steps.append(
            f"      - name: Exercise {ex.number} ({ex.marker})\n"
            f"        id: {ex.marker}\n"
            f"        uses: classroom-resources/autograding-command-grader@v1\n"
            f"        with:\n"
            f"          test-name: Exercise {ex.number}, {ex.title}\n"
            f"          command: python -m grader check -m {ex.marker}\n"
            f"          timeout: 15\n"
            f"          max-score: {ex.max_points}"
        )
        env.append(f"          {ex.marker.upper()}_RESULTS: \"${{{{steps.{ex.marker}.outputs.result}}}}\"")
    return ((TEMPLATES / "github-classroom.yml").read_text()
            .replace("@STEPS@", "\n".join(steps))
            .replace("@REPORTER_ENV@", "\n".join(env))
            .replace("@RUNNERS@", ",".join(ex.marker for ex in exercises)))
