using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;

namespace AkkaTcpTransfer.Transfer;

/// <summary>The part of a connection owner (ClientActor, or the server's PeerActor for one client) that makes its
/// transfer children and routes their frames by transfer id. Not an actor: it works inside its owner's context.</summary>
internal sealed class TransferEndpoint
{
    private readonly IActorContext _context;
    private readonly NodeSettings _settings;
    private readonly IActorRef _transfers;
    private readonly IActorRef _partials;
    private readonly string _localName;
    private readonly Dictionary<uint, IActorRef> _byId = [];
    private readonly Dictionary<IActorRef, (uint Id, bool Receiving)> _byActor = [];
    private int _receiving;

    public TransferEndpoint(IActorContext context, NodeSettings settings, IActorRef transfers, IActorRef partials, string localName)
    {
        _context = context;
        _settings = settings;
        _transfers = transfers;
        _partials = partials;
        _localName = localName;
    }

    public bool Owns(uint id) => _byId.ContainsKey(id);

    /// <summary>Start sending <paramref name="spec"/> over <paramref name="connection"/>.</summary>
    public void StartSend(TransferMessages.StartSend spec, IActorRef connection)
    {
        if (_byId.ContainsKey(spec.Id))
        {
            _transfers.Tell(new TransferMessages.SendRefused(spec.Id, "transfer id already in use"));
            return;
        }
        Add(spec.Id, _context.ActorOf(SenderActor.Props(spec, connection, _transfers, _settings, _localName), $"send-{TransferIds.Format(spec.Id)}"), receiving: false);
    }

    /// <summary>An offer arrived (its From already authenticated): make a receiver, or refuse at once.</summary>
    /// <param name="maxChunk">The largest chunk this node (and any relay in between) accepts.</param>
    public void Offer(Offer offer, IActorRef connection, int maxChunk)
    {
        if (_byId.ContainsKey(offer.Id))
        {
            connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, "transfer id already in use here; offer again")));
            return;
        }
        if (_receiving >= _settings.Transfer.MaxConcurrentReceives)
        {
            connection.Tell(new ConnectionMessages.Send(new Reject(offer.Id, $"too many incoming transfers at once (at most {_settings.Transfer.MaxConcurrentReceives}); try again later")));
            return;
        }
        var actor = _context.ActorOf(ReceiverActor.Props(offer, connection, _transfers, _partials, _settings, _localName, maxChunk),
            $"recv-{TransferIds.Format(offer.Id)}");
        Add(offer.Id, actor, receiving: true);
    }

    /// <summary>Passes a frame to the transfer it belongs to; false if no transfer here has that id.</summary>
    public bool Route(TransferFrame frame)
    {
        if (!_byId.TryGetValue(frame.Id, out var actor)) return false;
        actor.Tell(frame);
        return true;
    }

    /// <summary>Forget a child that stopped; true if it was one of ours.</summary>
    public bool Terminated(IActorRef actor)
    {
        if (!_byActor.Remove(actor, out var entry)) return false;
        _byId.Remove(entry.Id);
        if (entry.Receiving) _receiving--;
        return true;
    }

    public void ConnectionLost(string reason)
    {
        foreach (var actor in _byId.Values) actor.Tell(new TransferMessages.ConnectionLost(reason));
    }

    private void Add(uint id, IActorRef actor, bool receiving)
    {
        _byId[id] = actor;
        _byActor[actor] = (id, receiving);
        if (receiving) _receiving++;
        _context.Watch(actor);
    }
}
