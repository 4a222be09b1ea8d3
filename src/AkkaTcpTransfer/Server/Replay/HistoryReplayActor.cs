using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Store;
using AkkaTcpTransfer.Tcp;
using HistoryFrame = AkkaTcpTransfer.Protocol.History;

namespace AkkaTcpTransfer.Server.Replay;

/// <summary>Sends one stretch of stored history to a client: the events of an entity between two sequence numbers,
/// read from the journal by Akka.Persistence.Query as an Akka.Streams source, turned into History frames and written
/// to the client's connection at the pace it takes them (at most <see cref="Window"/> frames not yet in the socket;
/// the stream is asked for the next one only then), then a HistoryEnd. Nothing of it is held in memory beyond the
/// window and the source's page. A child of the client's session, one at a time; it tells its parent
/// <see cref="Finished"/> and stops.</summary>
internal sealed class HistoryReplayActor : ReceiveActor
{
    /// <summary>Frames handed to the connection and not yet written to its socket, at most.</summary>
    public const int Window = 32;

    /// <summary>To the parent: the history of <paramref name="Target"/> up to <paramref name="UpTo"/> has been sent
    /// (<paramref name="Ok"/>), or could not be read.</summary>
    public sealed record Finished(string Target, long UpTo, bool Ok);

    private sealed class StreamInit
    {
        public static readonly StreamInit Instance = new();
        private StreamInit() { }
    }

    private sealed class StreamAck
    {
        public static readonly StreamAck Instance = new();
        private StreamAck() { }
    }

    private sealed class StreamComplete
    {
        public static readonly StreamComplete Instance = new();
        private StreamComplete() { }
    }

    private sealed record StreamFailed(Exception Cause);

    private sealed class Written
    {
        public static readonly Written Instance = new();
        private Written() { }
    }

    /// <summary>What to send: <paramref name="PersistenceId"/>'s events <paramref name="From"/>..<paramref name="To"/>,
    /// as history of <paramref name="Target"/> ("#room", "" for the server-wide room, or the client's own name for the
    /// direct messages kept for it, none older than <paramref name="MinAtMs"/>).</summary>
    public sealed record Request(string Target, string PersistenceId, long From, long To, bool More, long MinAtMs);

    private readonly IActorRef _connection;
    private readonly Request _request;
    private IActorRef? _stream;
    private int _outstanding;
    private bool _held;
    private bool _done;

    public static Props Props(IActorRef connection, Request request) => Akka.Actor.Props.Create(() => new HistoryReplayActor(connection, request));

    public HistoryReplayActor(IActorRef connection, Request request)
    {
        _connection = connection;
        _request = request;
        Receive<StreamInit>(_ =>
        {
            _stream = Sender;
            Sender.Tell(StreamAck.Instance);
        });
        Receive<Frame>(frame =>
        {
            _outstanding++;
            _connection.Tell(new ConnectionMessages.Send(frame, Written.Instance));
            if (_outstanding < Window) Sender.Tell(StreamAck.Instance);
            else _held = true;
        });
        Receive<Written>(_ =>
        {
            _outstanding--;
            if (_held)
            {
                _held = false;
                _stream?.Tell(StreamAck.Instance);
            }
            if (_done && _outstanding == 0) Context.Stop(Self);
        });
        Receive<StreamComplete>(_ =>
        {
            _connection.Tell(new ConnectionMessages.Send(new HistoryEnd(_request.Target, _request.From, _request.More)));
            Context.Parent.Tell(new Finished(_request.Target, _request.To, true));
            Finish();
        });
        Receive<StreamFailed>(f =>
        {
            _connection.Tell(new ConnectionMessages.Send(new RoomRefused(_request.Target, WireCode.Unavailable,
                $"the history could not be read: {f.Cause.Message}")));
            Context.Parent.Tell(new Finished(_request.Target, _request.To, false));
            Finish();
        });
    }

    /// <summary>Stops once every frame handed to the connection is written (the parent may start the next replay at once:
    /// its frames follow these).</summary>
    private void Finish()
    {
        _done = true;
        if (_outstanding == 0) Context.Stop(Self);
    }

    protected override void PreStart()
    {
        var journal = PersistenceQuery.Get(Context.System).ReadJournalFor<ICurrentEventsByPersistenceIdQuery>(StoreReadJournal.Identifier);
        var target = _request.Target;
        var minAt = _request.MinAtMs;
        // Only lines become history: joins, leaves and topics share the room's journal, and kept messages past their age
        // are not sent (nulls are no stream elements: they are filtered out first).
        journal.CurrentEventsByPersistenceId(_request.PersistenceId, _request.From, _request.To)
            .Where(e => e.Event is LineSaid || (e.Event is DirectStored direct && direct.AtMs >= minAt))
            .Select(e => e.Event switch
            {
                LineSaid line => new HistoryFrame(line.From, target, line.AtMs, e.SequenceNr, line.Text),
                DirectStored direct => (Frame)new HistoryFrame(direct.From, direct.To, direct.AtMs, e.SequenceNr, direct.Text),
                _ => throw new InvalidOperationException("filtered above"),
            })
            .RunWith(Sink.ActorRefWithAck<Frame>(Self, StreamInit.Instance, StreamAck.Instance, StreamComplete.Instance, e => new StreamFailed(e)),
                Context.Materializer());
    }
}
