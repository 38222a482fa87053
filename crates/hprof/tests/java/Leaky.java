import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;

/**
 * Leaks on command, for heapwise's HPROF tests. Reads lines from stdin and
 * answers each with "done" and what it holds:
 *   sessions N    - N Session objects put in the static map SESSIONS (never removed)
 *   listeners N   - N listeners, each holding a Request, added to BUS.listeners (never removed)
 *   local N       - N buffers added to the ThreadLocal BUFFERS of the main thread
 *   plugins N     - N plugins, each an instance of Plugin loaded by a class loader of its own
 *                   (a URLClassLoader over this program's classes), kept in the static
 *                   registry PLUGINS (never removed): each keeps its loader alive
 *   churn N       - N short-lived objects, gone at the next GC
 *   gc            - System.gc() three times
 */
public class Leaky {
    interface Listener { void onEvent(String event); }

    static final class Session {
        final String id;
        final byte[] payload = new byte[64];
        final List<String> tags = new ArrayList<>();
        Session(String id) { this.id = id; tags.add(id + "-a"); tags.add(id + "-b"); }
    }

    static final class Request {
        final String path;
        final byte[] body = new byte[200];
        Request(String path) { this.path = path; }
    }

    static final class EventBus {
        private final List<Listener> listeners = new ArrayList<>();
        void register(Listener listener) { listeners.add(listener); }
        int size() { return listeners.size(); }
    }

    static final class Churned { final long[] data = new long[8]; }

    /** Loaded by a class loader of its own each time: its static state is per loader. */
    public static final class Plugin {
        static final byte[] STATE = new byte[512];
        final int[] config = new int[4];
        public Plugin() { STATE[0]++; }
    }

    static final Map<String, Session> SESSIONS = new HashMap<>();
    static final EventBus BUS = new EventBus();
    static final ThreadLocal<List<int[]>> BUFFERS = ThreadLocal.withInitial(ArrayList::new);
    static final List<Object> PLUGINS = new ArrayList<>();
    static int next;
    static Object sink;

    public static void main(String[] args) throws Exception {
        settle();
        System.out.println("ready " + ProcessHandle.current().pid());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] word = line.trim().split(" ");
            int n = word.length > 1 ? Integer.parseInt(word[1]) : 0;
            switch (word[0]) {
                case "sessions":
                    for (int i = 0; i < n; i++) { String id = "s" + (next++); SESSIONS.put(id, new Session(id)); }
                    break;
                case "listeners":
                    for (int i = 0; i < n; i++) {
                        Request request = new Request("/r/" + (next++));
                        BUS.register(event -> request.path.length());
                    }
                    break;
                case "local":
                    for (int i = 0; i < n; i++) BUFFERS.get().add(new int[16]);
                    break;
                case "plugins":
                    URL[] home = { Leaky.class.getProtectionDomain().getCodeSource().getLocation() };
                    for (int i = 0; i < n; i++) {
                        // The boot loader as parent: Plugin is defined anew by each loader.
                        URLClassLoader loader = new URLClassLoader(home, null);
                        PLUGINS.add(loader.loadClass("Leaky$Plugin").getDeclaredConstructor().newInstance());
                    }
                    break;
                case "churn":
                    for (int i = 0; i < n; i++) sink = new Churned();
                    sink = null;
                    break;
                case "gc":
                    settle();
                    break;
                default:
                    break;
            }
            System.out.println("done sessions=" + SESSIONS.size() + " listeners=" + BUS.size()
                + " local=" + BUFFERS.get().size() + " plugins=" + PLUGINS.size());
        }
    }

    static void settle() throws InterruptedException {
        for (int i = 0; i < 3; i++) { System.gc(); Thread.sleep(20); }
    }
}
