using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Tui;

/// <summary>What the window shows at one moment: new log lines, and the current rows, offers, status and names.</summary>
public sealed record UiSnapshot(IReadOnlyList<ScreenModel.LogLine> NewLines, IReadOnlyList<ScreenModel.TransferRow> Rows,
    IReadOnlyList<ScreenModel.OfferPrompt> Offers, string Status, IReadOnlyList<string> Peers);

/// <summary>Between a node's EventStream and the terminal UI: folds every event into a <see cref="ScreenModel"/> as it
/// comes, and at most ten times a second hands the window a snapshot of what changed, through <c>post</c> (the UI's
/// Invoke in the program; inline in tests). However fast events come, the UI thread does bounded work.</summary>
public sealed class UiBridgeActor : ReceiveActor, IWithTimers
{
    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly ScreenModel _model;
    private readonly Func<UiSnapshot, bool> _post;
    private readonly Func<DateTimeOffset> _clock;
    private long _seen;

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="post">Hands a snapshot to the window; false if there is no window yet (the snapshot is then taken
    /// again later, with everything since).</param>
    public static Props Props(ScreenModel model, Func<UiSnapshot, bool> post, Func<DateTimeOffset>? clock = null) =>
        Akka.Actor.Props.Create(() => new UiBridgeActor(model, post, clock ?? (() => DateTimeOffset.Now)));

    public UiBridgeActor(ScreenModel model, Func<UiSnapshot, bool> post, Func<DateTimeOffset> clock)
    {
        _model = model;
        _post = post;
        _clock = clock;
        Receive<NodeEvent>(e => _model.Apply(e, _clock()));
        Receive<Flush>(_ => Publish());
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(NodeEvent));
        Timers.StartPeriodicTimer(nameof(Flush), Flush.Instance, Interval);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    private void Publish()
    {
        var now = _clock();
        _model.Tick(now);
        var moving = _model.Transfers(now);
        // Rows with bytes on the way change every tick (rate, ETA) even without a new event.
        if (!_model.Dirty && !moving.Any(r => r.State == ScreenModel.RowState.Moving)) return;
        var lines = _model.LinesSince(_seen);
        if (!_post(new UiSnapshot(lines, moving, _model.Offers, _model.Status, [.. _model.Peers]))) return;
        _model.Dirty = false;
        _seen = _model.LinesAdded;
    }
}
