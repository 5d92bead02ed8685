import java.net.*;
import java.net.http.*;
import java.io.*;
import java.time.Duration;
public class Gen {
  public static void main(String[] a) throws Exception {
    String mode = a[0]; URI u = URI.create(a[1]);
    int port = u.getPort() > 0 ? u.getPort() : (u.getScheme().endsWith("s") ? 443 : 80);
    try {
      switch (mode) {
        case "socket": try (Socket s = new Socket()) { s.connect(new InetSocketAddress(u.getHost(), port), 3000); } break;
        case "socketnt": try (Socket s = new Socket(u.getHost(), port)) {} break;
        case "url": { HttpURLConnection c = (HttpURLConnection) u.toURL().openConnection(); c.setConnectTimeout(3000); c.setReadTimeout(3000); c.getResponseCode(); } break;
        case "httpclient": HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(3)).build().send(HttpRequest.newBuilder(u).timeout(Duration.ofSeconds(3)).build(), HttpResponse.BodyHandlers.discarding()); break;
        case "ws": HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(Duration.ofSeconds(3)).buildAsync(u, new WebSocket.Listener(){}).join(); break;
      }
      System.out.println("OK");
    } catch (Throwable t) { t.printStackTrace(System.out); }
  }
}
