using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Presentation;

namespace AkkaTcpTransfer.Tui;

/// <summary>What the window shows at one moment: new log lines of the conversation in view, and the current rows,
/// offers, status, names and conversations.</summary>
internal sealed record UiSnapshot(IReadOnlyList<ScreenModel.LogLine> NewLines, IReadOnlyList<ScreenModel.TransferRow> Rows,
    IReadOnlyList<ScreenModel.OfferPrompt> Offers, string Status, IReadOnlyList<string> Peers)
{
    /// <summary><see cref="NewLines"/> are the whole log in view, not lines to add: another conversation came into view,
    /// or history was placed among the lines shown.</summary>
    public bool WholeLog { get; init; }

    /// <summary>The server-wide room, then the rooms this client is in (the rooms list); none before any is known.</summary>
    public IReadOnlyList<ScreenModel.ConversationInfo> Conversations { get; init; } = [];

    /// <summary>The room in view, or null for the server-wide room.</summary>
    public string? InView { get; init; }

    /// <summary>Room names for completion: those joined and those of the last listing.</summary>
    public IReadOnlyList<string> Rooms { get; init; } = [];
}

/// <summary>What the window asks of <see cref="UiBridgeActor"/>: the person switches conversations.</summary>
internal static class UiBridgeMessages
{
    /// <summary>Show the conversation of <paramref name="Room"/> (null: the server-wide room), if this client is in it.</summary>
    public sealed record ShowRoom(string? Room);

    /// <summary>Show the conversation <paramref name="Step"/> places after the one in view (before it when negative),
    /// round the list.</summary>
    public sealed record ShowNext(int Step);
}

/// <summary>Between a node's EventStream and the terminal UI: folds every event into a <see cref="ScreenModel"/> as it
/// comes, and at most ten times a second hands the window a snapshot of what changed, through <c>post</c> (the UI's
/// Invoke in the program; inline in tests). However fast events come, the UI thread does bounded work.</summary>
internal sealed class UiBridgeActor : ReceiveActor, IWithTimers
{
    private sealed class Flush
    {
        public static readonly Flush Instance = new();
    }

    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    private readonly ScreenModel _model;
    private readonly Func<UiSnapshot, bool> _post;
    private readonly Func<DateTimeOffset> _clock;
    private ScreenModel.LogMark _seen;

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
        Receive<UiBridgeMessages.ShowRoom>(OnShowRoom);
        Receive<UiBridgeMessages.ShowNext>(OnShowNext);
    }

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(NodeEvent));
        Timers.StartPeriodicTimer(nameof(Flush), Flush.Instance, Interval);
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    // A switch shows at once, not at the next tick: the person is looking.
    private void OnShowRoom(UiBridgeMessages.ShowRoom show)
    {
        if (_model.View(show.Room)) Publish();
    }

    private void OnShowNext(UiBridgeMessages.ShowNext show)
    {
        _model.ViewNext(show.Step);
        Publish();
    }

    private void Publish()
    {
        var now = _clock();
        _model.Tick(now);
        var moving = _model.Transfers(now);
        // Rows with bytes on the way change every tick (rate, ETA) even without a new event.
        if (!_model.Dirty && !moving.Any(r => r.State == ScreenModel.RowState.Moving)) return;
        var (lines, whole, mark) = _model.LinesSince(_seen);
        var snapshot = new UiSnapshot(lines, moving, _model.Offers, _model.Status, [.. _model.Peers])
        {
            WholeLog = whole,
            Conversations = _model.Conversations,
            InView = _model.RoomInView,
            Rooms = _model.KnownRooms,
        };
        if (!_post(snapshot)) return;
        _model.Dirty = false;
        _seen = mark;
    }
}
