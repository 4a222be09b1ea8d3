// docs/EMBEDDING.md:embedding:begin
using System.Globalization;
using Akka.Actor;
using AkkaTcpTransfer;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Settings;

namespace MyApp;

public static class EmbeddingExample
{
    /// <param name="stateDir">Where the nodes keep what outlives them: the server its TLS key, the client the
    /// servers it trusts (empty: the per-user data folder).</param>
    public static async Task<string> RunAsync(string stateDir)
    {
        // A server actor system on any free port, and a client actor system pointing at it. TLS is on: the client
        // trusts exactly the server's key, given by its fingerprint (as a person would pass --fingerprint).
        await using var server = await ServerNode.StartAsync(NodeConfig.Build(NodeRole.Server,
            ("port", "0"), ("state-dir", Path.Combine(stateDir, "server"))));
        await using var alice = await ClientNode.StartAsync(NodeConfig.Build(NodeRole.Client,
            ("name", "alice"), ("port", server.Port.ToString(CultureInfo.InvariantCulture)),
            ("tls.fingerprint", server.Fingerprint!), ("state-dir", Path.Combine(stateDir, "alice"))));

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
// docs/EMBEDDING.md:embedding:end
