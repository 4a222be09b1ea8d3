using Akka.Actor;

namespace AkkaTcpTransfer.Server.Entities;

/// <summary>A message for the entity <paramref name="EntityId"/> ("room:KEY", "user:IDENTITY"), wherever it lives: a
/// child of an <see cref="EntityHostActor"/> on a single server, a sharded entity in a cluster. The entity receives
/// <paramref name="Message"/> with the envelope's sender.</summary>
internal sealed record EntityEnvelope(string EntityId, object Message) : Federation.ICrossNodeMessage;

/// <summary>How an entity leaves memory when it has been idle: on a single server its host's own message, in a cluster
/// the shard's. Either way the host stops it with <see cref="Stop"/> once no message is on its way to it, and starts it
/// again (it recovers from the database) when the next one comes.</summary>
internal interface IPassivation
{
    void Passivate(IActorContext context);
}

internal static class EntityMessages
{
    /// <summary>The stop an entity asked for: sent by its host, last, once nothing else is on its way to it.</summary>
    public sealed class Stop
    {
        public static readonly Stop Instance = new();
        private Stop() { }
    }
}

/// <summary>Entities of one kind on a single server, as children started on their first message: a room, a client's
/// account. An idle one asks to leave memory (<see cref="IPassivation"/>): messages that arrive for it meanwhile wait
/// here and start it again once it has stopped, so nothing sent to an entity is lost to its passivation.</summary>
/// <remarks>Supervision: an entity that throws is stopped (its state is in the database; the next message recovers it).
/// One that stops on its own (a journal failure) is simply gone until its next message.</remarks>
internal sealed class EntityHostActor : ReceiveActor
{
    private sealed record Passivating(IActorRef Entity);

    private readonly Func<string, IPassivation, Props> _props;
    private readonly Dictionary<string, IActorRef> _entities = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, string> _ids = [];
    /// <summary>Messages for entities that are stopping: delivered to their next incarnation.</summary>
    private readonly Dictionary<string, List<(object Message, IActorRef Sender)>> _waiting = new(StringComparer.Ordinal);

    public static Props Props(Func<string, IPassivation, Props> entityProps) =>
        Akka.Actor.Props.Create(() => new EntityHostActor(entityProps));

    public EntityHostActor(Func<string, IPassivation, Props> entityProps)
    {
        _props = entityProps;
        Receive<EntityEnvelope>(e => Deliver(e.EntityId, e.Message, Sender));
        Receive<Passivating>(p =>
        {
            if (!_ids.TryGetValue(p.Entity, out var id) || _waiting.ContainsKey(id)) return;
            _waiting[id] = [];
            p.Entity.Tell(EntityMessages.Stop.Instance);
        });
        Receive<CountEntities>(_ => Sender.Tell(_entities.Count));
        Receive<Terminated>(t =>
        {
            if (!_ids.Remove(t.ActorRef, out var id)) return;
            _entities.Remove(id);
            if (!_waiting.Remove(id, out var waiting)) return;
            foreach (var (message, sender) in waiting) Deliver(id, message, sender);
        });
    }

    /// <summary>The host's count of entities in memory (for tests and the benchmark's memory check).</summary>
    public sealed class CountEntities
    {
        public static readonly CountEntities Instance = new();
        private CountEntities() { }
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(_ => Directive.Stop);

    private void Deliver(string id, object message, IActorRef sender)
    {
        if (_waiting.TryGetValue(id, out var waiting))
        {
            waiting.Add((message, sender));
            return;
        }
        if (!_entities.TryGetValue(id, out var entity))
        {
            entity = Context.ActorOf(_props(id, new Local(Self)), Uri.EscapeDataString(id));
            Context.Watch(entity);
            _entities[id] = entity;
            _ids[entity] = id;
        }
        entity.Tell(message, sender);
    }

    private sealed class Local(IActorRef host) : IPassivation
    {
        public void Passivate(IActorContext context) => host.Tell(new Passivating(context.Self));
    }
}
