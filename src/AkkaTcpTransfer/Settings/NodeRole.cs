namespace AkkaTcpTransfer.Settings;

public enum NodeRole
{
    Server,
    Client,
}
