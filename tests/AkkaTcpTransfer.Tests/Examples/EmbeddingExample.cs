// README:embedding:begin
using System.Globalization;
using Akka.Actor;
using AkkaTcpTransfer;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Settings;

namespace MyApp;

public static class EmbeddingExample
{
    public static async Task<string> RunAsync()
    {
        // A server actor system on any free port, and a client actor system pointing at it.
        await using var server = await ServerNode.StartAsync(NodeConfig.Build(NodeRole.Server, ("port", "0")));
        await using var alice = await ClientNode.StartAsync(NodeConfig.Build(NodeRole.Client,
            ("name", "alice"), ("port", server.Port.ToString(CultureInfo.InvariantCulture))));

        // Typed events from the EventStream: a callback here; an actor of yours works the same way
        // (server.System.EventStream.Subscribe(myActor, typeof(NodeEvent))).
        var heard = new TaskCompletionSource<ChatReceived>();
        using var subscription = server.System.Subscribe<ChatReceived>(chat => heard.TrySetResult(chat));

        // Commands are messages.
        alice.Commands.Tell(new NodeCommands.Say("hello from an embedding program"));
        var chat = await heard.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return $"{chat.From}: {chat.Text}";
    }
}
// README:embedding:end
