from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

# Bounds on what one run may simulate, so that no kata can make a run that takes minutes.
MAX_TRAFFIC_SECONDS = 3600
MAX_RATE = 2000


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


class Kata(models.Model):
    """A system-design exercise: a brief, a palette of parts, traffic and graded scenarios."""

    class Difficulty(models.TextChoices):
        BEGINNER = "beginner", "Beginner"
        INTERMEDIATE = "intermediate", "Intermediate"
        ADVANCED = "advanced", "Advanced"

    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=120)
    summary = models.CharField(max_length=300, help_text="One sentence shown in the kata list.")
    overview = models.TextField(blank=True, help_text="What the learner is asked to build, in a paragraph.")
    context = models.TextField(blank=True, help_text="The story: the business, its systems and what hurts.")
    constraints_operational = models.TextField(blank=True, help_text="One constraint per line.")
    constraints_product = models.TextField(blank=True, help_text="One constraint per line.")
    learning_outcomes = models.TextField(blank=True, help_text="One outcome per line.")
    hints = models.TextField(blank=True, help_text="One hint per line, shown on request, in order.")
    difficulty = models.CharField(max_length=20, choices=Difficulty.choices, default=Difficulty.INTERMEDIATE)
    domain = models.CharField(max_length=60, blank=True)
    minutes_min = models.PositiveSmallIntegerField(default=20)
    minutes_max = models.PositiveSmallIntegerField(default=30)
    budget_per_hour = models.DecimalField(
        max_digits=8, decimal_places=2, default=5, help_text="Peak hourly cost a design may reach, in dollars."
    )
    drain_seconds = models.PositiveIntegerField(
        default=1800, validators=[MaxValueValidator(7200)],
        help_text="Simulated seconds after traffic stops for queued work to finish (at most 2 hours).",
    )
    grading_seeds = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="A scenario passes only if it passes on every seed.",
    )
    reference_design = models.JSONField(default=dict, blank=True, help_text="A design that passes every scenario.")
    cheapest_cost_per_hour = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True,
        help_text="Peak hourly cost of the cheapest passing design found (`manage.py cheapest --save`); the grade "
                  "compares a learner's cost with it.",
    )
    published = models.BooleanField(default=False)
    archived = models.BooleanField(
        default=False, help_text="Retired: hidden from learners, its attempts kept for review. A kata with attempts "
                                 "cannot be deleted; archive it instead.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if self.minutes_max < self.minutes_min:
            raise ValidationError({"minutes_max": "Must be at least the minimum."})

    def get_absolute_url(self) -> str:
        return reverse("kata_detail", kwargs={"slug": self.slug})

    @property
    def constraints_operational_list(self) -> list[str]:
        return _lines(self.constraints_operational)

    @property
    def constraints_product_list(self) -> list[str]:
        return _lines(self.constraints_product)

    @property
    def learning_outcomes_list(self) -> list[str]:
        return _lines(self.learning_outcomes)

    @property
    def hints_list(self) -> list[str]:
        return _lines(self.hints)


class PartType(models.Model):
    """One entry of a kata's palette: what it is, how it behaves, what it costs, what a learner may tune."""

    class Role(models.TextChoices):
        SOURCE = "source", "Traffic source"
        LOAD_BALANCER = "load_balancer", "Load balancer"
        SERVICE = "service", "Service"
        WORKER = "worker", "Worker"
        QUEUE = "queue", "Queue / buffer"
        EXTERNAL = "external", "External dependency"
        DATABASE = "database", "Database"
        CACHE = "cache", "Cache"

    class Fanout(models.TextChoices):
        SPLIT = "split", "Splits its traffic evenly over the parts it feeds"
        SINGLE = "single", "Feeds at most one part"

    class Distribution(models.TextChoices):
        EXPONENTIAL = "exponential", "Exponential"
        DETERMINISTIC = "deterministic", "Deterministic"
        LOGNORMAL = "lognormal", "Lognormal (mean, SCV)"
        ERLANG = "erlang", "Erlang-k"
        JITTER = "jitter", "Base + exponential jitter"

    kata = models.ForeignKey(Kata, on_delete=models.CASCADE, related_name="parts")
    key = models.SlugField(help_text="Used in design documents, e.g. 'gateway'.")
    name = models.CharField(max_length=80)
    role = models.CharField(max_length=20, choices=Role.choices)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    required = models.BooleanField(default=False, help_text="Every design must contain one.")
    max_per_design = models.PositiveSmallIntegerField(default=8, validators=[MinValueValidator(1)])
    fixed_servers = models.PositiveIntegerField(
        null=True, blank=True, help_text="Capacity that the learner cannot size (an external dependency)."
    )
    unit_cost_per_hour = models.DecimalField(
        max_digits=8, decimal_places=3, default=0, help_text="Price of one instance per hour (before its cores)."
    )
    core_cost_per_hour = models.DecimalField(
        max_digits=8, decimal_places=3, default=0,
        help_text="Price of each core of an instance per hour (parts with a 'cores' parameter).",
    )
    concurrency_per_core = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Most requests in flight per core of an instance (its slots: waiting on a downstream call holds a "
                  "slot, not a core). Blank: concurrency is bounded only by its own range.",
    )
    fanout = models.CharField(max_length=10, choices=Fanout.choices, default=Fanout.SPLIT)
    feeds = models.JSONField(
        null=True, blank=True,
        help_text="Keys of the parts this part may hand requests to, e.g. [\"gateway\", \"ledger_db\"]; [] for "
                  "none (the end of a path); blank for any part.",
    )
    feeds_reason = models.CharField(
        max_length=300, blank=True,
        help_text="Shown to a learner who connects it to any other part, in their words (\"a payment can't be "
                  "answered from a cache\").",
    )
    cache_keys = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cache only: distinct keys the reads ask for (the workload's key space)."
    )
    cache_zipf = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Cache only: Zipf exponent of the keys' popularity (0 = uniform, 1 = a few hot keys).",
    )
    service_distribution = models.CharField(
        max_length=20, choices=Distribution.choices, default=Distribution.EXPONENTIAL
    )
    service_mean_ms = models.FloatField(default=10, validators=[MinValueValidator(0)])
    service_scv = models.FloatField(
        null=True, blank=True, help_text="Lognormal only: squared coefficient of variation."
    )
    service_k = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Erlang only: number of phases.")
    jitter_mean_ms = models.FloatField(null=True, blank=True, help_text="Jitter only: mean of the exponential part.")
    base_error = models.FloatField(
        default=0.0002, validators=[MinValueValidator(0), MaxValueValidator(1)], help_text="Probability per call."
    )
    error_threshold = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Utilization above which errors rise (blank: errors stay at the base rate).",
    )
    error_max = models.FloatField(
        default=0.5, validators=[MinValueValidator(0), MaxValueValidator(1)], help_text="Error probability at 100 %."
    )
    error_power = models.FloatField(default=2, validators=[MinValueValidator(0.1)])
    slowdown_factor = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Service time multiplier reached at 100 % utilization (grows from 1 at the error threshold).",
    )
    timeout_ms = models.FloatField(null=True, blank=True, validators=[MinValueValidator(1)])
    errors_after_work = models.FloatField(
        default=0, validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of its errors that come after it did the work (a time-out after the charge): a caller that "
                  "retries such a call without an idempotency key has the work done twice.",
    )

    class Meta:
        ordering = ["kata", "order", "name"]
        constraints = [models.UniqueConstraint(fields=["kata", "key"], name="unique_part_key_per_kata")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key})"

    def clean(self) -> None:
        errors = {}
        if self.service_distribution == self.Distribution.LOGNORMAL and not self.service_scv:
            errors["service_scv"] = "A lognormal service time needs its SCV."
        if self.service_distribution == self.Distribution.ERLANG and not self.service_k:
            errors["service_k"] = "An Erlang service time needs k."
        if self.service_distribution == self.Distribution.JITTER and self.jitter_mean_ms is None:
            errors["jitter_mean_ms"] = "A jittered service time needs the jitter's mean."
        if self.error_threshold is not None and self.error_max < self.base_error:
            errors["error_max"] = "Must be at least the base error."
        if self.feeds is not None and (
            not isinstance(self.feeds, list) or not all(isinstance(k, str) for k in self.feeds)
        ):
            errors["feeds"] = "A list of part keys, e.g. [\"gateway\"], or blank for any part."
        if self.role == self.Role.CACHE and (self.cache_keys is None) != (self.cache_zipf is None):
            errors["cache_keys"] = "Give both the key space and its Zipf exponent, or neither."
        if errors:
            raise ValidationError(errors)


class PartParameter(models.Model):
    """A parameter of a part, with its default and the range a learner may choose from."""

    class Name(models.TextChoices):
        INSTANCES = "instances", "Instances"
        CONCURRENCY = "concurrency", "Concurrency per instance"
        CAPACITY = "capacity", "Buffer capacity (messages)"
        ACKNOWLEDGES = "acknowledges", "Acknowledges the request (0/1)"
        MAX_ATTEMPTS = "max_attempts", "Attempts per message (1 = no retry)"
        BACKOFF_MS = "backoff_ms", "First retry backoff (ms)"
        HIT_RATIO = "hit_ratio", "Cache hit ratio"
        CORES = "cores", "Cores per instance"
        TTL_SECONDS = "ttl_seconds", "Time to live of a cached entry (s)"
        RETRY_JITTER = "retry_jitter", "Retry jitter (share of the backoff made random)"
        RETRY_BUDGET = "retry_budget", "Retry budget (retries per new message; 0 = none)"
        DEAD_LETTER = "dead_letter", "Dead-letter queue (0/1)"
        IDEMPOTENCY_KEY = "idempotency_key", "Idempotency key on retried calls (0/1)"
        BREAKER = "breaker_threshold", "Circuit breaker: failure share that opens it (0 = none)"
        DEADLINE_MS = "deadline_ms", "Caller deadline of its calls (ms; 0 = none)"
        SHED_WAIT_MS = "shed_wait_ms", "Load shedding: longest expected wait admitted (ms; 0 = none)"

    part = models.ForeignKey(PartType, on_delete=models.CASCADE, related_name="parameters")
    name = models.CharField(max_length=20, choices=Name.choices)
    default = models.FloatField()
    minimum = models.FloatField()
    maximum = models.FloatField()
    step = models.FloatField(default=1, validators=[MinValueValidator(0)])
    learner_editable = models.BooleanField(default=True)

    class Meta:
        ordering = ["part", "id"]
        constraints = [models.UniqueConstraint(fields=["part", "name"], name="unique_parameter_per_part")]

    def __str__(self) -> str:
        return f"{self.part.key}.{self.name}"

    def clean(self) -> None:
        if self.minimum > self.maximum:
            raise ValidationError({"maximum": "Must be at least the minimum."})
        if not self.minimum <= self.default <= self.maximum:
            raise ValidationError({"default": f"Must lie within [{self.minimum:g}, {self.maximum:g}]."})


class TrafficSource(models.Model):
    """Poisson traffic entering at a source part: a base rate with an optional spike (ramp up, hold, ramp down)."""

    kata = models.ForeignKey(Kata, on_delete=models.CASCADE, related_name="traffic")
    part = models.ForeignKey(PartType, on_delete=models.CASCADE, related_name="traffic")
    base_rate = models.FloatField(validators=[MinValueValidator(0.001), MaxValueValidator(MAX_RATE)],
                                  help_text="Requests per second.")
    spike_rate = models.FloatField(null=True, blank=True,
                                   validators=[MinValueValidator(0.001), MaxValueValidator(MAX_RATE)])
    warmup_seconds = models.PositiveIntegerField(default=60, validators=[MaxValueValidator(MAX_TRAFFIC_SECONDS)])
    ramp_seconds = models.PositiveIntegerField(default=60, validators=[MaxValueValidator(MAX_TRAFFIC_SECONDS)])
    hold_seconds = models.PositiveIntegerField(default=600, validators=[MaxValueValidator(MAX_TRAFFIC_SECONDS)])
    cooldown_seconds = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(MAX_TRAFFIC_SECONDS)],
        help_text="After the spike: the recovery window at the base rate, up to the end of traffic.",
    )
    deadline_ms = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="The caller's time-out: a request not acknowledged within it is given up, an error.",
    )
    complete_through = models.JSONField(
        default=list, blank=True,
        help_text="What a request must pass to count as done, step by step: a list of steps, each a list of part "
                  "keys, e.g. [[\"gateway\"], [\"ledger_db\"]]. One that leaves any other way is lost.",
    )
    noun_one = models.CharField(max_length=40, default="request", help_text="What one request is called: 'payment'.")
    noun_many = models.CharField(max_length=40, default="requests", help_text="And several: 'payments'.")

    class Meta:
        ordering = ["kata", "id"]
        constraints = [models.UniqueConstraint(fields=["kata", "part"], name="unique_traffic_per_part")]

    def __str__(self) -> str:
        return f"{self.part.name}: {self.base_rate:g}/s"

    def clean(self) -> None:
        if self.part_id and self.part.role != PartType.Role.SOURCE:
            raise ValidationError({"part": "Traffic enters at a part whose role is 'Traffic source'."})
        steps = self.complete_through
        if not isinstance(steps, list) or not all(
            isinstance(step, list) and step and all(isinstance(k, str) for k in step) for step in steps
        ):
            raise ValidationError({"complete_through": "A list of steps, each a non-empty list of part keys."})
        total = self.warmup_seconds + 2 * self.ramp_seconds + self.hold_seconds + self.cooldown_seconds
        if total > MAX_TRAFFIC_SECONDS:
            raise ValidationError(f"Traffic lasts {total} simulated seconds; keep it within {MAX_TRAFFIC_SECONDS} "
                                  "so a run stays quick.")


class Scenario(models.Model):
    """One graded check of a kata, evaluated on every grading seed."""

    class Metric(models.TextChoices):
        ACCEPT_P99_MS = "accept_p99_ms", "p99 accept latency (ms)"
        DROPPED = "dropped", "Acknowledged requests not completed"
        ERROR_RATE_PCT = "error_rate_pct", "End-to-end error rate (%)"
        RECOVERY = "recovery", "Errors of the external part recovered by a retrying buffer (%)"
        PEAK_COST = "peak_cost", "Peak hourly cost ($), with the latency and error scenarios holding"
        SETTLE_P99_MS = "settle_p99_ms", "p99 completion latency (ms)"
        PEAK_UTILIZATION_PCT = "peak_utilization_pct", "Highest peak utilization of any part (%)"

    class Comparator(models.TextChoices):
        LE = "le", "≤"
        LT = "lt", "<"
        GE = "ge", "≥"
        GT = "gt", ">"
        EQ = "eq", "="

    kata = models.ForeignKey(Kata, on_delete=models.CASCADE, related_name="scenarios")
    order = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=120)
    description = models.TextField(blank=True, help_text="What is measured and why it matters.")
    metric = models.CharField(max_length=30, choices=Metric.choices)
    comparator = models.CharField(max_length=2, choices=Comparator.choices)
    threshold = models.FloatField(null=True, blank=True, help_text="Blank for peak cost: the kata's budget is used.")
    source = models.ForeignKey(
        PartType, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The traffic source this scenario grades (blank: the first).",
    )
    require_headroom = models.BooleanField(
        default=False,
        help_text="Error rate only: also fail when a part on the graded path runs above its error threshold over a "
                  "10-second window (its errors rise there, retried or not).",
    )
    practice = models.BooleanField(
        default=False,
        help_text="Shown with the graded scenarios but not counted in the grade: a learner tries it on demand, as a "
                  "what-if run of their design with this scenario's incidents (one seed).",
    )
    incidents = models.JSONField(
        default=list, blank=True,
        help_text='What goes wrong in this scenario, a list of incidents on the kata\'s parts, e.g. [{"kind": '
                  '"brownout", "part": "gateway", "start": 420, "end": 540, "latency_factor": 1.5, "error": 0.05}]. '
                  "Kinds: brownout (latency_factor, error), outage, instances_lost (instances), surge (factor, on a "
                  "traffic source). Times are simulated seconds.",
    )

    class Meta:
        ordering = ["kata", "order"]
        constraints = [models.UniqueConstraint(fields=["kata", "order"], name="unique_scenario_order")]

    def __str__(self) -> str:
        return f"{self.order}. {self.title}"

    def clean(self) -> None:
        if self.threshold is None and self.metric != self.Metric.PEAK_COST:
            raise ValidationError({"threshold": "Every scenario but peak cost needs a threshold."})
        if self.incidents and not self.practice:
            raise ValidationError({"incidents": "Incidents belong to a practice scenario: the graded run has none."})
        if self.practice and self.metric == self.Metric.PEAK_COST:
            raise ValidationError({"practice": "Peak cost is not a practice scenario (it depends on the others)."})
        if self.incidents and self.kata_id:
            from kata.palette import Palette  # the palette module reads these models
            from kata.whatif import WhatIfError, incidents_check
            try:
                incidents_check(self.incidents, Palette.from_rows(self.kata))
            except WhatIfError as exc:
                problems = [f"{path}: {message}" for path, message in exc.problems]
                raise ValidationError({"incidents": problems}) from None


class KataVersion(models.Model):
    """A published kata's rules as they were when a check passed: parts and their ranges, traffic, scenarios and
    thresholds, budget and seeds (a `Palette` as data). Learners are graded against the latest one; every attempt
    and run keeps the one it was graded against, so an instructor's later edit never moves a grade."""

    kata = models.ForeignKey(Kata, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    rules = models.JSONField(help_text="The kata's palette as data (see kata/versions.py).")
    reference_design = models.JSONField(default=dict, blank=True)
    changes = models.TextField(blank=True, help_text="What changed since the version before, one change a line.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["kata", "-number"]
        constraints = [models.UniqueConstraint(fields=["kata", "number"], name="unique_version_number_per_kata")]

    def __str__(self) -> str:
        return f"{self.kata} v{self.number}"


class MustFailDesign(models.Model):
    """A design a clever learner might use to pass without meeting the brief: Check kata proves it fails the
    scenarios named here."""

    kata = models.ForeignKey(Kata, on_delete=models.CASCADE, related_name="must_fail")
    order = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=120)
    why = models.TextField(blank=True, help_text="What the design does wrong, in a sentence.")
    design = models.JSONField()
    fails = models.JSONField(default=list, help_text="The scenarios (by number) it must fail, e.g. [1, 3].")

    class Meta:
        ordering = ["kata", "order", "id"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if not isinstance(self.fails, list) or not self.fails or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in self.fails
        ):
            raise ValidationError({"fails": "A list of scenario numbers, e.g. [1, 3]: at least one."})


class KataCheck(models.Model):
    """One "Check kata": the reference must pass every scenario and each must-fail design fail those it names.
    Runs in the background; its progress and report show on the kata's admin page. A check asked to publish makes
    the rules it checked (snapshotted when it was asked for) the kata's next version when it passes."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    kata = models.ForeignKey(Kata, on_delete=models.CASCADE, related_name="checks")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    publish = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rules = models.JSONField(default=dict)
    reference_design = models.JSONField(default=dict)
    must_fail = models.JSONField(default=list)
    done = models.PositiveSmallIntegerField(default=0)
    total = models.PositiveSmallIntegerField(default=0)
    current = models.CharField(max_length=200, blank=True)
    report = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)
    version = models.ForeignKey(KataVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Check of {self.kata} ({self.get_status_display()})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.PASSED, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


class Attempt(models.Model):
    """A learner's design for a kata, as saved; its runs hang off it."""

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attempts")
    # A learner's work outlives an instructor's edits: a kata with attempts cannot be deleted (archive it).
    kata = models.ForeignKey(Kata, on_delete=models.PROTECT, related_name="attempts")
    # The rules it was saved (and first graded) against; blank for attempts from before versions, or on a kata's
    # unpublished rules (an instructor trying them).
    version = models.ForeignKey(KataVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="attempts")
    title = models.CharField(max_length=120, blank=True)
    design = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A grader's "done with this one": the attempt needs review again once a later run finishes.
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    # When the learner last opened the attempt: feedback written or edited after it is new to them.
    feedback_seen_at = models.DateTimeField(null=True, blank=True)
    # An opt-in, revocable read-only link (/shared/<token>/): the design, charts and grade, without the learner.
    share_token = models.CharField(max_length=64, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["learner", "kata", "-created_at"])]
        permissions = [
            ("review_attempt", "Can review any learner's attempt and leave feedback"),
            ("override_grade", "Can override a scenario's verdict, with a reason"),
        ]

    def __str__(self) -> str:
        return self.title or f"Attempt {self.pk} on {self.kata}"


class Run(models.Model):
    """One simulation of an attempt over the kata's grading seeds, with what it measured and its grade."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # A run is active (an executor may yet simulate it) until it has finished in one of three ways.
    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="runs")
    # The rules it is graded against (blank: the kata's rules as they are when it executes).
    version = models.ForeignKey(KataVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    seeds = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0, validators=[MinValueValidator(0), MaxValueValidator(1)])
    results = models.JSONField(default=dict, blank=True)
    series = models.JSONField(default=dict, blank=True, help_text="Downsampled time series for replay.")
    grade = models.JSONField(default=dict, blank=True)
    passed = models.PositiveSmallIntegerField(null=True, blank=True)
    total = models.PositiveSmallIntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A what-if run (`kata.whatif`): changed traffic, incidents, the practice scenario it tries. Null for a graded
    # run; a what-if run is never graded (its passed and total stay null) and never changes its attempt's grade.
    what_if = models.JSONField(null=True, blank=True)
    # Who is executing it and since when they last said so (see kata/runs/lease.py).
    executions = models.PositiveSmallIntegerField(default=0, help_text="How many times an executor took this run on.")
    worker = models.CharField(max_length=200, blank=True, help_text="The executor of the latest execution.")
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.get_status_display()})"


class Draft(models.Model):
    """The design a learner is working on, autosaved as they edit (valid or not yet)."""

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="drafts")
    kata = models.ForeignKey(Kata, on_delete=models.PROTECT, related_name="drafts")
    design = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["learner", "kata"], name="one_draft_per_learner_and_kata")]

    def __str__(self) -> str:
        return f"Draft of {self.learner} on {self.kata}"


class RunFrame(models.Model):
    """One batch of live snapshots as it was streamed, so a reload or a new socket replays the run so far."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="frames")
    seq = models.PositiveIntegerField()
    payload = models.JSONField()

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_frame_seq_per_run")]


class Feedback(models.Model):
    """A grader's note on an attempt, shown to its learner."""

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="feedback")
    grader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]


class FeedbackChange(models.Model):
    """The audit trail of a grader editing or deleting their feedback: what it said before, who, when."""

    class Action(models.TextChoices):
        EDITED = "edited", "Edited"
        DELETED = "deleted", "Deleted"

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="feedback_changes")
    feedback = models.ForeignKey(Feedback, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes")
    grader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    text_before = models.TextField(max_length=4000)
    text_after = models.TextField(max_length=4000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class GradeOverride(models.Model):
    """One change of one scenario's verdict by a grader: the audit trail the learner sees
    (who, when, from → to, why)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="overrides")
    scenario_id = models.PositiveSmallIntegerField()
    grader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_passed = models.BooleanField()
    to_passed = models.BooleanField()
    reason = models.TextField(max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]


class RunTraces(models.Model):
    """Request traces of a run: its seeds replayed on the pure engine with tracing on, after the run (see
    kata/traces.py). Bounded: per traced seed, at most `simulator.TraceCaps.total` traces of the graded sources."""

    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="traces")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECORDING)
    seeds = models.JSONField(default=list, help_text="The seeds traced: the streamed one, and each failing "
                                                     "scenario's worst seed.")
    data = models.JSONField(default=dict, blank=True, help_text="{seed: simulator.Traces.to_dict()} of the graded "
                                                                "sources.")
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Traces of run {self.run_id} ({self.get_status_display()})"


class Sweep(models.Model):
    """A what-if sweep: one learner-editable parameter of one part of a design over a grid of values, each point
    simulated and scored against the kata's scenarios. Saved, never graded (see kata/sweeps.py)."""

    Status = Run.Status  # a sweep lives as a run does: queued, running, then finished one of three ways
    ACTIVE_STATUSES = Run.ACTIVE_STATUSES

    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sweeps")
    kata = models.ForeignKey(Kata, on_delete=models.PROTECT, related_name="sweeps")
    version = models.ForeignKey(KataVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="sweeps")
    design = models.JSONField()
    node = models.CharField(max_length=100, help_text="The design's part (node id) whose parameter moves.")
    parameter = models.CharField(max_length=100)
    values = models.JSONField(default=list)
    seeds = models.JSONField(default=list)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    points = models.JSONField(default=list, blank=True, help_text="One entry per value done: its scenarios' values "
                                                                  "and verdicts, and the design's cost.")
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Sweep {self.pk} of {self.node}.{self.parameter} ({self.get_status_display()})"
